import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { runCli, tempDir } from '../sidecar/support';
import { cliEnv, configFor, configGet, rawClient } from './support';

const KEYS = 20_000;
const VALUE = 'v'.repeat(200);

describe('Redis guards: nothing lost', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
    const raw = rawClient(server);
    const pipe = raw.pipeline();
    for (let i = 0; i < KEYS; i++) pipe.set(`data:${i}`, `${i}:${VALUE}`);
    await pipe.exec();
    raw.disconnect();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function everyKeyIntact(): Promise<void> {
    const raw = rawClient(server);
    try {
      expect(Number((await raw.info('stats')).match(/evicted_keys:(\d+)/)![1])).toBe(0);
      for (let start = 0; start < KEYS; start += 1000) {
        const names = Array.from({ length: 1000 }, (_, i) => `data:${start + i}`);
        const values = await raw.mget(...names);
        for (const [i, v] of values.entries()) expect(v, names[i]).toBe(`${start + i}:${VALUE}`);
      }
    } finally {
      raw.disconnect();
    }
  }

  it('refuses a maxmemory below used memory plus headroom, in plan and on write, and every key survives', async () => {
    const raw = rawClient(server);
    const used = Number((await raw.info('memory')).match(/used_memory:(\d+)/)![1]);
    expect(used).toBeGreaterThan(KEYS * 200);
    // Just below used × 1.2: still above the data set, yet inside the headroom.
    const tooLow = Math.floor(used * 1.1);
    const store = new RedisStore(configFor(server, { maxMemory: String(tooLow) }));
    try {
      const s = (await store.desired()).find((x) => x.key === 'maxmemory')!;
      expect(s.skip).toBeUndefined();
      expect(s.guarded).toMatch(
        /below the used memory .* plus 20% headroom .*evicting .* at once; raise redis.maxMemory to at least \d+/,
      );
      await expect(store.write('maxmemory', '1mb')).rejects.toMatchObject({
        code: 'TITAN_PERF_REDIS_MAXMEMORY_GUARD',
        message: expect.stringContaining('--force'),
      });
      expect(await configGet(raw, 'maxmemory')).toBe('0');
      await everyKeyIntact();

      // --force lifts the refusal in the plan (not applied here: it would evict at once).
      const forced = new RedisStore(configFor(server, { maxMemory: '1mb', forceMaxMemory: true }));
      expect((await forced.desired()).find((x) => x.key === 'maxmemory')).not.toHaveProperty('guarded');
      await forced.close();

      // A limit with room to spare applies, and nothing is evicted.
      const roomy = Math.ceil(used * 3);
      await store.write('maxmemory', String(roomy));
      expect(await configGet(raw, 'maxmemory')).toBe(String(roomy));
      await everyKeyIntact();
      await store.restoreOriginals();
      expect(await configGet(raw, 'maxmemory')).toBe('0');
      await everyKeyIntact();
    } finally {
      await store.close();
      raw.disconnect();
    }
  });

  it('through the sidecar CLI: plan shows the guarded maxmemory as skipped until --force, apply leaves it and every key alone', async () => {
    const dir = tempDir('redis-guard');
    const cfg = join(dir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        system: { enabled: false },
        redis: { host: server.host, port: server.port, maxMemory: '1mb' },
        dataDir: join(dir, 'state'),
      }),
    );
    const env = cliEnv();
    const raw = rawClient(server);
    try {
      const plan = await runCli(['plan', '--config', cfg, '--json'], { env });
      const entry = JSON.parse(plan.stdout).plan.find(
        (e: { store: string; key: string }) => e.store === 'redis' && e.key === 'maxmemory',
      );
      expect(entry).toMatchObject({ action: 'skip', reason: expect.stringMatching(/evicting .*apply with --force/) });
      const apply = await runCli(['apply', '--config', cfg], { env });
      expect(apply.code).toBe(0);
      expect(await configGet(raw, 'maxmemory')).toBe('0');
      await everyKeyIntact();
      expect((await runCli(['rollback', '--config', cfg], { env })).code).toBe(0);
    } finally {
      raw.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns before switching appendonly on, off, and before a less durable appendfsync', async () => {
    const raw = rawClient(server);
    const store = new RedisStore(configFor(server, { appendOnly: true, appendFsync: 'no' }));
    try {
      let plan = await store.desired();
      expect(plan.find((s) => s.key === 'appendonly')!.warnings?.join()).toMatch(/starts an AOF rewrite/);
      // everysec -> no loses more on a crash.
      expect(plan.find((s) => s.key === 'appendfsync')!.warnings?.join()).toMatch(
        /less durable: a crash can lose .*OS/,
      );

      await raw.config('SET', 'appendonly', 'yes');
      const off = new RedisStore(configFor(server, { appendOnly: false, appendFsync: 'always' }));
      plan = await off.desired();
      expect(plan.find((s) => s.key === 'appendonly')!.warnings?.join()).toMatch(
        /loses every write since the last RDB snapshot/,
      );
      // More durable: no warning.
      expect(plan.find((s) => s.key === 'appendfsync')!.warnings).toBeUndefined();
      await off.close();
      await raw.config('SET', 'appendonly', 'no');
    } finally {
      await store.close();
      raw.disconnect();
    }
  });
});
