/**
 * PerformanceOptimizer in-process over real parts: a real redis-server, a
 * fake procfs tree for kernel parameters (the host's own sysctls are
 * snapshotted and must not move), the real runtime agent tuning fetch.
 */
import httpModule, { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PerformanceOptimizer } from '../../dist/src/index.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server';
import { fakeProcRoot, hostSysctlSnapshot, readFakeSysctl, tempDir } from '../sidecar/support';

let redis: RedisServer;
let admin: Redis;
let http: Server;
let origin: string;
const hostBefore = hostSysctlSnapshot();

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
  await admin.connect();
  http = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
  await new Promise((r) => http?.close(r));
  // Everything above went to the fake tree: the host's own values are byte for byte what they were.
  expect(hostSysctlSnapshot()).toEqual(hostBefore);
});

function procTree(): string {
  return fakeProcRoot({
    'net.core.somaxconn': '4096',
    'net.ipv4.tcp_max_syn_backlog': '512',
    'net.ipv4.tcp_congestion_control': 'cubic',
    'net.ipv4.tcp_available_congestion_control': 'reno cubic bbr',
    'vm.swappiness': '60',
  });
}

async function configGet(key: string): Promise<string> {
  return ((await admin.config('GET', key)) as string[])[1];
}

const dispatcherSymbol = Symbol.for('undici.globalDispatcher.1');
const globalDispatcher = () => (globalThis as Record<symbol, unknown>)[dispatcherSymbol];

function recordEvents(o: InstanceType<typeof PerformanceOptimizer>): string[] {
  const seen: string[] = [];
  for (const e of [
    'optimization-completed',
    'optimization-failed',
    'nodejs-optimized',
    'redis-optimized',
    'system-optimized',
    'rollback-completed',
  ]) {
    o.on(e, () => seen.push(e));
  }
  return seen;
}

describe('PerformanceOptimizer', () => {
  it('applies Node.js, Redis and kernel settings, then rolls every one of them back', async () => {
    const proc = procTree();
    const dataDir = tempDir('api-data');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'hz', '10');
    const dispatcherBefore = globalDispatcher();
    const httpAgentBefore = httpModule.globalAgent;
    const o = new PerformanceOptimizer({ redis: { host: redis.host, port: redis.port }, dataDir }, { procRoot: proc });
    const events = recordEvents(o);
    try {
      const result = await o.applyAllOptimizations();
      expect(result.errors).toEqual([]);
      expect(result.success).toBe(true);
      expect(events).toEqual(['nodejs-optimized', 'redis-optimized', 'system-optimized', 'optimization-completed']);
      expect(result.appliedOptimizations).toContain('sysctl net.core.somaxconn: 4096 -> 65535');
      expect(result.appliedOptimizations).toContain('redis maxmemory-policy: noeviction -> allkeys-lru');
      // Inside vitest, fetch's global dispatcher may already exist (the tuner then says it left it alone) or not
      // (armed); either way the report says which. Tuning and restore are proven in a clean process (process.test.ts).
      const fetchLines = [...result.appliedOptimizations, ...result.warnings].filter((l: string) =>
        l.startsWith('nodejs fetch: '),
      );
      expect(fetchLines).toHaveLength(1);
      expect(fetchLines[0]).toMatch(/^nodejs fetch: (left-alone|armed|tuned)/);
      expect(result.appliedOptimizations).toContain('nodejs http.globalAgent: tuned');
      expect(httpModule.globalAgent).not.toBe(httpAgentBefore);
      expect(
        httpModule.globalAgent.options.maxSockets ??
          (httpModule.globalAgent as unknown as { maxSockets: number }).maxSockets,
      ).toBe(50);
      // Node-wide keys are not for a pod: a warning naming the setting, not a failure.
      expect(result.warnings.some((w: string) => w.startsWith('sysctl vm.swappiness not applied: node-wide'))).toBe(
        true,
      );

      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('65535');
      expect(readFakeSysctl(proc, 'net.ipv4.tcp_congestion_control')).toBe('bbr');
      expect(readFakeSysctl(proc, 'vm.swappiness')).toBe('60');
      expect(await configGet('maxmemory-policy')).toBe('allkeys-lru');
      expect(await configGet('maxmemory')).toBe(String(2 * 1024 ** 3));

      expect(await (await fetch(origin)).text()).toBe('ok');
      const dispatcherDuring = globalDispatcher();

      const rb = await o.rollbackOptimizations();
      expect(rb.errors).toEqual([]);
      expect(rb.success).toBe(true);
      expect(events.at(-1)).toBe('rollback-completed');
      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('4096');
      expect(readFakeSysctl(proc, 'net.ipv4.tcp_congestion_control')).toBe('cubic');
      expect(await configGet('maxmemory-policy')).toBe('noeviction');
      expect(await configGet('maxmemory')).toBe('0');
      expect(await configGet('hz')).toBe('10');
      if (dispatcherDuring === dispatcherBefore)
        expect(globalDispatcher()).toBe(dispatcherBefore); // left alone
      else expect(globalDispatcher()).not.toBe(dispatcherDuring); // tuned, then Node's own put back
      expect(httpModule.globalAgent).toBe(httpAgentBefore);
      expect(await (await fetch(origin)).text()).toBe('ok');
    } finally {
      await o.close();
    }
  });

  it('reports Redis down as an error entry and still applies the rest', async () => {
    const proc = procTree();
    const o = new PerformanceOptimizer(
      {
        redis: { host: '127.0.0.1', port: await freePort(), connectRetries: 1, connectTimeout: 1000 },
        dataDir: tempDir('api-data'),
      },
      { procRoot: proc },
    );
    const events = recordEvents(o);
    try {
      const result = await o.applyAllOptimizations();
      expect(result.success).toBe(false);
      expect(result.errors).toEqual([expect.objectContaining({ area: 'redis', code: 'TITAN_PERF_REDIS_UNREACHABLE' })]);
      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('65535');
      expect(events).toEqual(['nodejs-optimized', 'system-optimized', 'optimization-failed']);
      const health = await o.redisOptimizer.performHealthCheck();
      expect(health.healthy).toBe(false);
      expect(health.error?.code).toBe('TITAN_PERF_REDIS_UNREACHABLE');
      await o.rollbackOptimizations();
      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('4096');
    } finally {
      await o.close();
    }
  });

  it('optimizeForHighFrequencyTrading applies the hft profile: 1 ms loop threshold, bigger pools, Redis without AOF or fsync', async () => {
    const proc = procTree();
    await admin.config('SET', 'appendonly', 'yes');
    await admin.config('SET', 'appendfsync', 'everysec');
    const o = new PerformanceOptimizer(
      { redis: { host: redis.host, port: redis.port }, dataDir: tempDir('api-data') },
      { procRoot: proc },
    );
    try {
      const result = await o.optimizeForHighFrequencyTrading();
      expect(result.errors).toEqual([]);
      expect(o.config.nodejs.maxEventLoopDelay).toBe(1);
      expect(o.config.nodejs.connectionPooling.maxConnections).toBe(200);
      expect(o.nodejsOptimizer.agent?.config.maxEventLoopDelay).toBe(1);
      expect(await configGet('appendfsync')).toBe('no');
      expect(await configGet('appendonly')).toBe('no');
      expect(await configGet('hz')).toBe('100');
      expect(await configGet('latency-monitor-threshold')).toBe('1');
      // The durability trade is said, not hidden.
      expect(result.warnings).toContain(
        'redis appendonly: switching appendonly off: a crash loses every write since the last RDB snapshot',
      );
      const pool = o.createDatabaseConnectionPool(
        'hft-pool',
        async () => ({}),
        async () => {},
      );
      expect(pool.max).toBe(200);
      await o.rollbackOptimizations();
      expect(await configGet('appendfsync')).toBe('everysec');
      expect(await configGet('appendonly')).toBe('yes');
      expect(await configGet('hz')).toBe('10');
    } finally {
      await o.close();
    }
  });
});
