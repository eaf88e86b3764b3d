import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../dist/src/index.js';
import { REDIS_PARAMETERS } from '../../dist/src/redis/parameters.js';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { configFor, configGet, rawClient } from './support';

/** What the engine does for one store, written out here so the store is tested on its own. */
async function applyAll(store: RedisStore) {
  const applied: string[] = [];
  for (const s of await store.desired()) {
    if (s.skip || s.guarded || store.satisfies(await store.read(s.key), s)) continue;
    await store.journal().recordOriginal({
      store: store.name,
      key: s.key,
      original: await store.read(s.key),
      at: Date.now(),
      owner: store.owner,
    });
    await store.write(s.key, s.value);
    applied.push(s.key);
  }
  return applied;
}

// Every value differs from redis-server's own defaults, so each parameter really changes.
const CHANGED = {
  maxMemory: '64mb',
  maxMemoryPolicy: 'allkeys-lfu',
  appendOnly: true,
  appendFsync: 'always',
  lazyfreeLazyEviction: true,
  lazyfreeLazyExpire: true,
  lazyfreeLazyServerDel: true,
  replicaLazyFlush: true,
  tcpKeepalive: 120,
  hz: 50,
  latencyMonitorThreshold: 25,
  rdbCompression: false,
  aofUseRdbPreamble: false,
  tcpBacklog: 1024,
} as const;

describe('Redis store: apply, read back, verify, rollback', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('applies every managed parameter, reads each back in canonical form, and rollback restores the exact originals', async () => {
    const raw = rawClient(server);
    const before = new Map<string, string>();
    for (const p of REDIS_PARAMETERS) before.set(p.key, await configGet(raw, p.key));

    const store = new RedisStore(configFor(server, CHANGED));
    try {
      const applied = await applyAll(store);
      const mutable = REDIS_PARAMETERS.filter((p) => !p.immutable).map((p) => p.key);
      expect(applied.sort()).toEqual([...mutable].sort());

      // Read back from outside the store: Redis answers maxmemory in bytes and booleans as yes/no.
      expect(await configGet(raw, 'maxmemory')).toBe(String(64 * 1024 * 1024));
      expect(await configGet(raw, 'maxmemory-policy')).toBe('allkeys-lfu');
      expect(await configGet(raw, 'appendonly')).toBe('yes');
      expect(await configGet(raw, 'appendfsync')).toBe('always');
      expect(await configGet(raw, 'lazyfree-lazy-eviction')).toBe('yes');
      expect(await configGet(raw, 'replica-lazy-flush')).toBe('yes');
      expect(await configGet(raw, 'tcp-keepalive')).toBe('120');
      expect(await configGet(raw, 'hz')).toBe('50');
      expect(await configGet(raw, 'latency-monitor-threshold')).toBe('25');
      expect(await configGet(raw, 'rdbcompression')).toBe('no');
      expect(await configGet(raw, 'aof-use-rdb-preamble')).toBe('no');

      // Verify: every setting but the immutable one now satisfies its desired value.
      for (const s of await store.desired()) {
        if (s.key === 'tcp-backlog') continue;
        expect(s.skip, s.key).toBeUndefined();
        expect(store.satisfies(await store.read(s.key), s), s.key).toBe(true);
      }

      // Drift by hand, verify sees it.
      await raw.config('SET', 'hz', '33');
      const hz = (await store.desired()).find((s) => s.key === 'hz')!;
      expect(store.satisfies(await store.read('hz'), hz)).toBe(false);

      const journalled = await store.journal().originals('redis');
      expect(journalled.map((e) => e.key).sort()).toEqual([...mutable].sort());
      for (const e of journalled) expect(e.original, e.key).toBe(before.get(e.key));

      const restored = await store.restoreOriginals();
      expect(restored).toHaveLength(mutable.length);
      for (const p of REDIS_PARAMETERS) expect(await configGet(raw, p.key), p.key).toBe(before.get(p.key));
      expect(await store.journal().originals('redis')).toEqual([]);
      // Idempotent: a second rollback finds nothing to do and changes nothing.
      expect(await store.restoreOriginals()).toEqual([]);
    } finally {
      await store.close();
      raw.disconnect();
    }
  });

  it('the default and hft profiles produce canonical desired values', async () => {
    const store = new RedisStore(configFor(server, resolveConfig({ env: {}, file: null }).config.redis));
    const hftStore = new RedisStore(
      configFor(server, resolveConfig({ env: {}, file: null, profile: 'hft' }).config.redis),
    );
    try {
      const def = Object.fromEntries((await store.desired()).map((s) => [s.key, s.value]));
      const hft = Object.fromEntries((await hftStore.desired()).map((s) => [s.key, s.value]));
      expect(def).toMatchObject({
        maxmemory: String(2 * 1024 ** 3),
        'maxmemory-policy': 'allkeys-lru',
        appendonly: 'yes',
        appendfsync: 'everysec',
        hz: '10',
      });
      expect(hft).toMatchObject({
        appendonly: 'no',
        appendfsync: 'no',
        hz: '100',
        'latency-monitor-threshold': '1',
        'tcp-keepalive': '60',
      });
    } finally {
      await store.close();
      await hftStore.close();
    }
  });

  it('reports the immutable tcp-backlog (current vs desired, needs a restart) and never attempts it', async () => {
    const raw = rawClient(server);
    const store = new RedisStore(configFor(server, { tcpBacklog: 1024 }));
    try {
      const s = (await store.desired()).find((x) => x.key === 'tcp-backlog')!;
      expect(s.skip).toMatch(/cannot change at runtime \(current 511, desired 1024\).*restart/);
      await expect(store.write('tcp-backlog', '1024')).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_IMMUTABLE' });
      expect(await configGet(raw, 'tcp-backlog')).toBe('511');
      // Equal values need no restart: no skip.
      const same = new RedisStore(configFor(server, { tcpBacklog: 511 }));
      expect((await same.desired()).find((x) => x.key === 'tcp-backlog')!.skip).toBeUndefined();
      await same.close();
    } finally {
      await store.close();
      raw.disconnect();
    }
  });

  it('refuses keys outside the catalogue', async () => {
    const store = new RedisStore(configFor(server));
    try {
      await expect(store.write('requirepass', 'x')).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_UNMANAGED_KEY' });
      await expect(store.read('dir')).rejects.toThrow(/not a Redis parameter titan-perf manages; managed: maxmemory/);
    } finally {
      await store.close();
    }
  });

  it('CONFIG REWRITE persists applied values to redis.conf when configured', async () => {
    const store = new RedisStore(configFor(server, { configRewrite: true, hz: 42 }));
    try {
      await store.write('hz', '42');
      expect(readFileSync(server.configPath!, 'utf8')).toMatch(/^hz 42$/m);
      await store.restoreOriginals();
      expect(readFileSync(server.configPath!, 'utf8')).not.toMatch(/^hz 42$/m);
    } finally {
      await store.close();
    }
  });
});

describe('Redis store: a server without a config file', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ noConfigFile: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('explains that CONFIG REWRITE is impossible, still applies the running value', async () => {
    const notices: string[] = [];
    const store = new RedisStore(configFor(server, { configRewrite: true, hz: 42 }), { warn: (m) => notices.push(m) });
    const raw = rawClient(server);
    try {
      const hz = (await store.desired()).find((s) => s.key === 'hz')!;
      expect(hz.warnings?.join('\n')).toMatch(/runs without a config file.*holds until the next restart/);
      await store.write('hz', '42');
      expect(await configGet(raw, 'hz')).toBe('42');
      expect(notices).toEqual([expect.stringMatching(/without a config file: CONFIG REWRITE skipped/)]);
      await store.restoreOriginals();
      expect(await configGet(raw, 'hz')).toBe('10');
    } finally {
      await store.close();
      raw.disconnect();
    }
  });
});
