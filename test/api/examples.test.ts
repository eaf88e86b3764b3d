/**
 * The examples (examples/*.mjs, importing from 'titan-perf' as a user does)
 * run as written, each as its own process inside a network namespace this
 * test creates: kernel settings land in that namespace only (node-wide keys
 * are refused by the default config), a real redis-server listens on the
 * default 127.0.0.1:6379 inside it, and /var/lib (the default dataDir's
 * parent) is a temp dir bind-mounted in a private mount namespace, so the
 * host's sysctls and /var/lib/titan-perf are never touched.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, hostSysctlSnapshot, nsSysctl, ROOT, tempDir, waitFor } from '../sidecar/support';

const hostBefore = hostSysctlSnapshot();
let ns: string;
let redis: ChildProcess;
let varLib: string;

function redisCli(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'redis-cli', '-p', '6379', ...args], { encoding: 'utf8' }).trim();
}
const configGet = (key: string) => redisCli('CONFIG', 'GET', key).split('\n')[1];

/** The example's process: inside the namespace, with the temp dir over /var/lib. */
function start(example: string): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const script = `mount --bind "$1" /var/lib && exec "$2" "$3"`;
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'sh',
      varLib,
      process.execPath,
      join(ROOT, 'examples', example),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, done };
}

async function run(example: string): Promise<string> {
  const p = start(example);
  const code = await p.done;
  expect(code, p.out()).toBe(0);
  return p.out();
}

beforeAll(async () => {
  ns = createNetns();
  varLib = tempDir('varlib');
  mkdirSync(join(varLib, 'titan-perf'), { recursive: true });
  const dir = tempDir('example-redis');
  redis = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'redis-server',
      '--port',
      '6379',
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    {
      stdio: 'ignore',
    },
  );
  await waitFor('redis-server in the namespace', () => {
    try {
      return redisCli('PING') === 'PONG';
    } catch {
      return false;
    }
  });
});

afterAll(async () => {
  if (redis && redis.exitCode === null) {
    const gone = new Promise((r) => redis.once('exit', r));
    redis.kill('SIGTERM');
    await gone;
  }
  if (ns) deleteNetns(ns);
  expect(hostSysctlSnapshot()).toEqual(hostBefore);
});

describe('the examples, as written', () => {
  it('usage: applies everything, and rollback (a new process) restores it from the journals', async () => {
    const somaxconn = nsSysctl(ns, 'net.core.somaxconn');
    const policy = configGet('maxmemory-policy');
    const out = await run('usage.mjs');
    expect(out).toContain('Optimizations applied:');
    expect(out).toContain('sysctl net.core.somaxconn');
    expect(nsSysctl(ns, 'net.core.somaxconn')).toBe('65535');
    expect(configGet('maxmemory-policy')).toBe('allkeys-lru');
    expect(configGet('appendonly')).toBe('yes');

    const report = JSON.parse((await run('rollback.mjs')).trim().split('\n').at(-1)!);
    expect(report.success).toBe(true);
    expect(report.restored).toContain(`sysctl net.core.somaxconn: restored ${somaxconn}`);
    expect(nsSysctl(ns, 'net.core.somaxconn')).toBe(somaxconn);
    expect(configGet('maxmemory-policy')).toBe(policy);
    expect(configGet('appendonly')).toBe('no');
  });

  it('custom configuration: a partial config deep-merged over the defaults', async () => {
    const config = JSON.parse((await run('custom-config.mjs')).trim());
    expect(config.nodejs).toMatchObject({ maxOldSpaceSize: 8192, maxEventLoopDelay: 5, maxHeapUsage: 0.75 });
    expect(config.nodejs.connectionPooling).toMatchObject({ maxConnections: 50, timeout: 30000 });
    expect(config.redis).toMatchObject({
      maxMemory: '4gb',
      appendFsync: 'no',
      maxMemoryPolicy: 'allkeys-lru',
      appendOnly: true,
    });
    expect(config.dataDir).toBe('/custom/data');
  });

  it('high-frequency trading: speed over durability in Redis, 1 ms loop threshold', async () => {
    const out = await run('high-frequency-trading.mjs');
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ maxEventLoopDelay: 1, redis: 'no' });
    expect(configGet('appendonly')).toBe('no');
    expect(configGet('appendfsync')).toBe('no');
    expect(configGet('hz')).toBe('100');
    await run('rollback.mjs');
    expect(configGet('hz')).toBe('10');
  });

  it('metrics and events: the events fire and the score comes with a status', async () => {
    const out = await run('metrics-and-events.mjs');
    expect(out).toContain('Node.js optimizations applied');
    expect(out).toContain('Optimizations applied successfully');
    expect(out).toMatch(/Overall Score: \d+/);
    expect(out).toMatch(/Status: (optimal|good|warning|critical)/);
    expect(out).toContain('Recommendations:');
    await run('rollback.mjs');
  });

  it('database pool: acquire, use, release against the real Redis, drained at close', async () => {
    const out = await run('database-pool.mjs');
    expect(out).toContain('PING -> PONG');
    expect(JSON.parse(/pool: (.*)/.exec(out)![1])).toMatchObject({ name: 'redis', max: 50, size: 1, used: 0 });
  });

  it('diagnostics: metrics, Redis health and system metrics', async () => {
    const out = JSON.parse((await run('diagnostics.mjs')).trim().split('\n').at(-1)!);
    expect(out.redisHealthy).toBe(true);
    expect(out.redisVersion).toMatch(/^\d+\./);
    expect(out.sysctls).toBeGreaterThan(0);
    expect(typeof out.score).toBe('number');
  });

  it('production: optimizes, then keeps monitoring on its interval', async () => {
    const p = start('production.mjs');
    try {
      await waitFor(
        'the production example to report',
        () => p.out().includes('System optimized for production') || p.child.exitCode !== null,
      );
      expect(p.out()).toContain('System optimized for production');
      // The example's setInterval keeps the service running; titan-perf itself holds nothing open.
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGTERM');
      await p.done;
    }
    await run('rollback.mjs');
  });
});
