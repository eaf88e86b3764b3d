import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../dist/src/redis/connection.js';
import { redisHealth } from '../../dist/src/redis/health.js';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { configFor, rawClient } from './support';
import { waitFor } from '../helpers/wait';

describe('Redis health readings', () => {
  let server: RedisServer;
  beforeAll(async () => {
    // Every command goes to the slowlog; latency events from 1 ms up.
    server = await startRedis({
      maxmemory: '64mb',
      extra: ['slowlog-log-slower-than 0', 'latency-monitor-threshold 1'],
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reports memory, keys, hit ratio, clients, persistence, latency events and slowlog length under the receiver names', async () => {
    const raw = rawClient(server);
    try {
      for (let i = 0; i < 100; i++) await raw.set(`k${i}`, 'x'.repeat(100));
      for (let i = 0; i < 30; i++) await raw.get(`k${i}`);
      for (let i = 0; i < 10; i++) await raw.get(`missing${i}`);
      // A deliberately slow script (about 50 ms of busy loop) makes a latency event.
      await raw.eval(
        "local t = redis.call('TIME'); local s = t[1]*1e6 + t[2]; repeat local n = redis.call('TIME') until (n[1]*1e6 + n[2]) - s > 50000; return 1",
        0,
      );

      const client = await connectRedis(configFor(server));
      try {
        let h = await redisHealth(client);
        await waitFor('a LATENCY LATEST event', async () => (h = await redisHealth(client)).latency.length > 0, 30_000);
        const m = h.metrics;
        expect(m['redis.memory.used']).toBeGreaterThan(100 * 100);
        expect(m['redis.maxmemory']).toBe(64 * 1024 * 1024);
        expect(m['redis.memory.fragmentation_ratio']).toBeGreaterThan(0);
        expect(m['redis.db.keys']).toBe(100);
        expect(m['redis.keyspace.hits']).toBe(30);
        expect(m['redis.keyspace.misses']).toBe(10);
        expect(m['redis.keyspace.hit_ratio']).toBeCloseTo(0.75, 5);
        expect(m['redis.keys.evicted']).toBe(0);
        expect(m['redis.clients.connected']).toBeGreaterThanOrEqual(2);
        expect(m['redis.clients.blocked']).toBe(0);
        expect(m['redis.slowlog.length']).toBeGreaterThan(100);
        expect(h.persistence).toMatchObject({ aofEnabled: false, rdbLastSaveStatus: 'ok', loading: false });
        // With a 1 ms threshold a loaded machine may record other events too; the script's spike is among them.
        for (const e of h.latency)
          expect(e).toMatchObject({ event: expect.any(String), latestMs: expect.any(Number), at: expect.any(Number) });
        expect(Math.max(...h.latency.map((e) => e.maxMs))).toBeGreaterThanOrEqual(40);
        expect(h.unavailable).toEqual([]);
        expect(h.version).toMatch(/^\d+\.\d+/);
      } finally {
        client.disconnect();
      }

      // The store's recommendations include the latency spike.
      const store = new RedisStore(configFor(server, { maxMemory: '64mb', latencyMonitorThreshold: 1 }));
      const recs = await store.recommendations();
      await store.close();
      expect(recs.some((r) => r.key.startsWith('latency:'))).toBe(true);
    } finally {
      raw.disconnect();
    }
  });
});
