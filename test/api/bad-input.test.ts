/**
 * Every public method given wrong types or impossible values fails with a
 * coded error naming the argument, and leaves nothing half-applied: the
 * fake procfs tree, the journal directory and the events show no trace.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PerformanceOptimizer } from '../../dist/src/index.js';
import { fakeProcRoot, readFakeSysctl, tempDir } from '../sidecar/support';

type Coded = { code?: string; message?: string; issues?: { path: string }[] };

function thrown(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Coded> {
  try {
    await p;
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a rejection');
}

const LOCAL = { redis: { enabled: false } };

describe('bad input to the library API', () => {
  it('the constructor refuses a bad config naming each field, before anything exists', () => {
    const cases: [unknown, RegExp][] = [
      [42, /PerformanceOptimizer config: got 42; expected a configuration object/],
      ['hft', /PerformanceOptimizer config: got "hft"/],
      [[], /PerformanceOptimizer config: got \[\]/],
    ];
    for (const [config, message] of cases) {
      const e = thrown(() => new PerformanceOptimizer(config as never));
      expect(e.code).toBe('TITAN_PERF_INVALID_ARGUMENT');
      expect(e.message).toMatch(message);
    }
    const e = thrown(
      () =>
        new PerformanceOptimizer({
          nodejs: { maxEventLoopDelay: -1, connectionPooling: { maxConnections: 0 } },
          redis: { maxMemoryPolicy: 'lru-please', appendFsync: 'sometimes' },
          system: { kernelParams: { vmSwappiness: 500 } },
          bogus: true,
        } as never),
    );
    expect(e.code).toBe('TITAN_PERF_CONFIG_INVALID');
    const paths = e.issues!.map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        'bogus',
        'nodejs.connectionPooling.maxConnections',
        'nodejs.maxEventLoopDelay',
        'redis.appendFsync',
        'redis.maxMemoryPolicy',
        'system.kernelParams.vmSwappiness',
      ].sort(),
    );
    expect(e.message).toMatch(
      /nodejs\.connectionPooling\.maxConnections: got 0 \(from code\); expected an integer from 1 to 10000/,
    );
    expect(e.message).toMatch(/redis\.maxMemoryPolicy: got "lru-please".*'allkeys-lru'/);
  });

  it('a bad environment value falls back with a warning naming the variable, and is fatal under TITAN_PERF_STRICT=1', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const o = new PerformanceOptimizer(
        {},
        { env: { TITAN_PERF_REDIS__PORT: 'lots', TITAN_PERF_NODEJS__MAX_EVENT_LOOP_DELAY: '5' } },
      );
      expect(o.config.redis.port).toBe(6379);
      expect(o.config.nodejs.maxEventLoopDelay).toBe(5); // the valid override still applies
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(warnings).toContainEqual(
        expect.stringMatching(
          /^titan-perf: redis\.port: got "lots" \(from TITAN_PERF_REDIS__PORT\); expected an integer from 1 to 65535; using the default/,
        ),
      );
    } finally {
      process.off('warning', onWarning);
    }
    const e = thrown(
      () => new PerformanceOptimizer({}, { env: { TITAN_PERF_REDIS__PORT: 'lots', TITAN_PERF_STRICT: '1' } }),
    );
    expect(e.code).toBe('TITAN_PERF_CONFIG_INVALID');
    expect(e.message).toMatch(/redis\.port: got "lots" \(from TITAN_PERF_REDIS__PORT\)/);
  });

  it('the constructor refuses bad options by name', () => {
    const cases: [unknown, RegExp][] = [
      [5, /PerformanceOptimizer options: got 5; expected an options object or undefined/],
      [{ procRoot: 'proc' }, /options\.procRoot: got "proc"; expected an absolute directory path/],
      [{ procRoot: 7 }, /options\.procRoot: got 7/],
      [{ env: 'PROD' }, /options\.env: got "PROD"; expected an object of environment variables/],
      [{ dryRun: true }, /options\.dryRun: got true; expected no such option; known: procRoot, env/],
    ];
    for (const [options, message] of cases) {
      const e = thrown(() => new PerformanceOptimizer({}, options as never));
      expect(e.code).toBe('TITAN_PERF_INVALID_ARGUMENT');
      expect(e.message).toMatch(message);
    }
  });

  it('methods that take no arguments reject any, and nothing is applied or emitted', async () => {
    const proc = fakeProcRoot({ 'net.core.somaxconn': '4096' });
    const dataDir = tempDir('bad-input');
    const o = new PerformanceOptimizer({ ...LOCAL, dataDir }, { procRoot: proc });
    const events: string[] = [];
    for (const e of [
      'optimization-completed',
      'optimization-failed',
      'nodejs-optimized',
      'system-optimized',
      'rollback-completed',
    ])
      o.on(e, () => events.push(e));
    try {
      const calls: [string, () => Promise<unknown>][] = [
        [
          'applyAllOptimizations',
          () => (o.applyAllOptimizations as (...a: unknown[]) => Promise<unknown>)({ force: true }),
        ],
        [
          'optimizeForHighFrequencyTrading',
          () => (o.optimizeForHighFrequencyTrading as (...a: unknown[]) => Promise<unknown>)('now'),
        ],
        ['getPerformanceMetrics', () => (o.getPerformanceMetrics as (...a: unknown[]) => Promise<unknown>)(1)],
        ['rollbackOptimizations', () => (o.rollbackOptimizations as (...a: unknown[]) => Promise<unknown>)(null)],
        [
          'performHealthCheck',
          () => (o.redisOptimizer.performHealthCheck as (...a: unknown[]) => Promise<unknown>)(true),
        ],
        [
          'getSystemMetrics',
          () => (o.systemOptimizer.getSystemMetrics as (...a: unknown[]) => Promise<unknown>)('all'),
        ],
      ];
      for (const [name, call] of calls) {
        const e = await rejected(call());
        expect(e.code, name).toBe('TITAN_PERF_INVALID_ARGUMENT');
        expect(e.message).toMatch(new RegExp(`^${name} arguments: got .*; expected no arguments`));
      }
      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('4096');
      expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
      expect(events).toEqual([]);
      expect(o.config.nodejs.maxEventLoopDelay).toBe(10); // the HFT call changed nothing
      expect(o.nodejsOptimizer.agent).toBeUndefined(); // nothing started watching or tuning

      const pool = thrown(() => o.createDatabaseConnectionPool('db', 'create' as never, async () => {}));
      expect(pool).toMatchObject({ code: 'TITAN_PERF_INVALID_ARGUMENT' });
      expect(pool.message).toMatch(/createDatabaseConnectionPool create: got "create"; expected a function/);
      const max = thrown(() =>
        o.createDatabaseConnectionPool(
          'db',
          async () => ({}),
          async () => {},
          { max: 1e9 },
        ),
      );
      expect(max.message).toMatch(/options\.max: got 1000000000; expected an integer from 1 to 10000/);
    } finally {
      await o.close();
    }
  });

  it('a config the sidecar stores refuse fails that area only, before anything of it is written', async () => {
    const proc = fakeProcRoot({ 'net.core.somaxconn': '4096' });
    // Passes the schema (a well-formed key) but the sysctl store refuses it: a catalogued key belongs in kernelParams.
    const o = new PerformanceOptimizer(
      { ...LOCAL, dataDir: tempDir('bad-input'), system: { extraSysctls: { 'net.core.somaxconn': 1024 } } },
      { procRoot: proc },
    );
    try {
      const r = await o.applyAllOptimizations();
      expect(r.success).toBe(false);
      expect(r.errors).toEqual([expect.objectContaining({ area: 'system', code: 'TITAN_PERF_SYSCTL_KEY_INVALID' })]);
      expect(r.errors[0].message).toMatch(/system\.extraSysctls\.net\.core\.somaxconn.*kernelParams\.netCoreSomaxconn/);
      expect(readFakeSysctl(proc, 'net.core.somaxconn')).toBe('4096');
      // The in-process part ran regardless.
      expect(r.areas.find((a: { area: string }) => a.area === 'nodejs').errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('a closed optimizer refuses further work with a coded error', async () => {
    const o = new PerformanceOptimizer(LOCAL);
    await o.close();
    await o.close(); // idempotent
    expect(await rejected(o.applyAllOptimizations())).toMatchObject({ code: 'TITAN_PERF_CLOSED' });
    expect(
      thrown(() =>
        o.createDatabaseConnectionPool(
          'x',
          async () => ({}),
          async () => {},
        ),
      ),
    ).toMatchObject({ code: 'TITAN_PERF_CLOSED' });
  });

  it('a Redis URL that does not parse is reported without its credentials', async () => {
    // Only the Redis area runs: kernel settings off, journal in a temp dir (never the host's /proc or /var/lib).
    const o = new PerformanceOptimizer({
      redis: { enabled: true, url: 'redis://user:hunter2@[not-a-host:1' },
      system: { enabled: false },
      dataDir: tempDir('bad-url'),
    });
    try {
      const health = await o.redisOptimizer.performHealthCheck().catch((err: unknown) => err);
      const applied = await o.applyAllOptimizations();
      const seen = JSON.stringify([health, String((health as Error)?.message), applied]);
      expect(seen).not.toContain('hunter2');
      expect(applied.errors.length).toBeGreaterThan(0);
    } finally {
      await o.close();
    }
  });
});
