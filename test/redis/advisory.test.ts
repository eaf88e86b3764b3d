import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { runCli, tempDir } from '../sidecar/support';
import { cliEnv, configFor, rawClient, runSidecarLike } from './support';

describe('Redis advisory mode: CONFIG renamed, denied or turned off by config', () => {
  let renamed: RedisServer;
  let acl: RedisServer;
  beforeAll(async () => {
    // As a managed service does it: CONFIG hidden under another name...
    renamed = await startRedis({ renameConfig: 'TITAN_HIDDEN_CONFIG', maxmemory: '32mb' });
    // ...or an ACL user allowed everything but CONFIG.
    acl = await startRedis({ users: [{ name: 'app', password: 'app-pw', rules: '~* &* +@all -config' }] });
  });
  afterAll(async () => {
    await renamed?.stop();
    await acl?.stop();
  });

  it('a renamed CONFIG gives health and recommendations only, with a clear message and no writes', async () => {
    const store = new RedisStore(configFor(renamed, { hz: 50 }));
    const hidden = rawClient(renamed);
    try {
      expect(await store.advisoryReason()).toMatch(/refuses CONFIG \(ERR unknown command 'config'.*parameter group/i);
      const plan = await store.desired();
      expect(plan.length).toBeGreaterThan(10);
      for (const s of plan) expect(s.skip, s.key).toMatch(/^advisory mode, nothing written: .*Recommended: /);
      await expect(store.write('hz', '50')).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_CONFIG_BLOCKED' });
      // The server's real value, through the hidden name: untouched.
      expect(((await hidden.call('TITAN_HIDDEN_CONFIG', 'GET', 'hz')) as string[])[1]).toBe('10');

      // What INFO reveals stands in for CONFIG GET.
      expect(await store.read('maxmemory')).toBe(String(32 * 1024 * 1024));
      expect(await store.read('hz')).toBe('10');
      expect(await store.read('rdbcompression')).toBeNull();

      const health = await store.health();
      expect(health.metrics['redis.maxmemory']).toBe(32 * 1024 * 1024);
      const recs = await store.recommendations();
      expect(recs).toContainEqual(
        expect.objectContaining({
          key: 'maxmemory',
          current: String(32 * 1024 * 1024),
          desired: String(2 * 1024 ** 3),
        }),
      );
      expect(recs).toContainEqual(expect.objectContaining({ key: 'hz', current: '10', desired: '50' }));
    } finally {
      await store.close();
      hidden.disconnect();
    }
  });

  it('the sidecar process does not crash on such a server and exits 0', async () => {
    const r = await runSidecarLike(configFor(renamed));
    expect(r.out).toContain('RESULT ok');
    expect(r.out).toContain('advisory mode');
    expect(r.code).toBe(0);
  });

  it('through the sidecar CLI: plan lists advisory skips, apply changes nothing and succeeds, status reports health', async () => {
    const dir = tempDir('redis-advisory');
    const cfg = join(dir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        system: { enabled: false },
        redis: { host: renamed.host, port: renamed.port, hz: 50 },
        dataDir: join(dir, 'state'),
      }),
    );
    const env = cliEnv();
    const hidden = rawClient(renamed);
    try {
      const plan = await runCli(['plan', '--config', cfg, '--json'], { env });
      const entries = JSON.parse(plan.stdout).plan.filter((e: { store: string }) => e.store === 'redis');
      expect(entries.length).toBeGreaterThan(10);
      for (const e of entries)
        expect(e).toMatchObject({ action: 'skip', reason: expect.stringContaining('advisory mode') });
      const apply = await runCli(['apply', '--config', cfg], { env });
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      expect(((await hidden.call('TITAN_HIDDEN_CONFIG', 'GET', 'hz')) as string[])[1]).toBe('10');
      const status = await runCli(['status', '--config', cfg, '--json'], { env });
      expect(JSON.parse(status.stdout).redis.metrics['redis.maxmemory']).toBe(32 * 1024 * 1024);
    } finally {
      hidden.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an ACL user without CONFIG is advisory too (NOPERM)', async () => {
    const store = new RedisStore(configFor(acl, { username: 'app', passwordEnv: 'APP_PW' }), {
      env: { APP_PW: 'app-pw' },
    });
    try {
      expect(await store.advisoryReason()).toMatch(/NOPERM/);
      await expect(store.write('hz', '20')).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_CONFIG_BLOCKED' });
      expect((await store.health()).unavailable).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("redis.mode 'advisory' never writes even where CONFIG is allowed", async () => {
    const store = new RedisStore(configFor(acl, { mode: 'advisory', hz: 20 }));
    const raw = rawClient(acl);
    try {
      expect(await store.advisoryReason()).toBe("redis.mode is 'advisory'");
      await expect(store.write('hz', '20')).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_CONFIG_BLOCKED' });
      const [, hz] = (await raw.config('GET', 'hz')) as string[];
      expect(hz).toBe('10');
      expect(await raw.exists('titan-perf:config-lease', 'titan-perf:config-originals')).toBe(0);
    } finally {
      await store.close();
      raw.disconnect();
    }
  });
});
