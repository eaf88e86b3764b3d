import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLease } from '../../dist/src/redis/lease.js';
import { RedisStore } from '../../dist/src/redis/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { configFor, configGet, rawClient } from './support';
import { waitFor } from '../helpers/wait';

/**
 * Two stores with different owners stand for two sidecars in two pods
 * sharing one Redis. The semantics under test: one owner at a time; the
 * journal keeps the true originals (first recorded wins); rollback is done by
 * the owner and restores those true originals, never a pod's applied values.
 */
describe('Several sidecars, one Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('one owner at a time; the second pod sees who holds the lease and writes nothing', async () => {
    const raw = rawClient(server);
    const a = new RedisStore(configFor(server, { hz: 20 }), { owner: 'pod-a' });
    const b = new RedisStore(configFor(server, { hz: 30 }), { owner: 'pod-b' });
    try {
      await a.write('hz', '20');
      expect(await a.ownsLease()).toBe(true);
      await expect(b.write('hz', '30')).rejects.toMatchObject({
        code: 'TITAN_PERF_REDIS_LEASE_HELD',
        message: expect.stringMatching(/another sidecar owns .* \(pod-a, for another \d+ s unless renewed\)/),
      });
      await expect(b.restoreOriginals()).rejects.toMatchObject({ code: 'TITAN_PERF_REDIS_LEASE_HELD' });
      expect(await configGet(raw, 'hz')).toBe('20');
      // Reading and planning need no lease.
      expect(await b.read('hz')).toBe('20');
      expect((await b.leaseHolder())?.owner).toBe('pod-a');
    } finally {
      await a.close();
      await b.close();
      raw.disconnect();
    }
    // a released the lease on close.
    const check = rawClient(server);
    expect(await check.exists('titan-perf:config-lease')).toBe(0);
    await check.del('titan-perf:config-originals');
    await check.config('SET', 'hz', '10');
    check.disconnect();
  });

  it("journals the true originals once; a later pod's apply and rollback restore those, not the first pod's values", async () => {
    const raw = rawClient(server);
    const a = new RedisStore(configFor(server), { owner: 'pod-a' });
    await a.write('hz', '20');
    await a.write('tcp-keepalive', '99');
    await a.close();

    const b = new RedisStore(configFor(server), { owner: 'pod-b' });
    try {
      // b applies over a's values: b's "current" is a's value, which must not become the original.
      await b.write('hz', '30');
      await b.write('latency-monitor-threshold', '7');
      const originals = Object.fromEntries((await b.journal().originals('redis')).map((e) => [e.key, e]));
      expect(originals.hz).toMatchObject({ original: '10', owner: 'pod-a' });
      expect(originals['tcp-keepalive']).toMatchObject({ original: '300', owner: 'pod-a' });
      expect(originals['latency-monitor-threshold']).toMatchObject({ original: '0', owner: 'pod-b' });
      // The engine's batch form keeps the same rule: an existing original is never replaced.
      await b.journal().recordOriginals([
        { store: 'redis', key: 'hz', original: '30', at: Date.now(), owner: 'pod-b' },
        { store: 'redis', key: 'rdbcompression', original: 'yes', at: Date.now(), owner: 'pod-b' },
      ]);
      expect(await b.journal().original('redis', 'hz')).toMatchObject({ original: '10', owner: 'pod-a' });
      expect(await b.journal().original('redis', 'rdbcompression')).toMatchObject({ original: 'yes', owner: 'pod-b' });

      await b.restoreOriginals();
      expect(await configGet(raw, 'hz')).toBe('10');
      expect(await configGet(raw, 'tcp-keepalive')).toBe('300');
      expect(await configGet(raw, 'latency-monitor-threshold')).toBe('0');
      expect(await b.journal().originals('redis')).toEqual([]);
    } finally {
      await b.close();
      raw.disconnect();
    }
  });

  it('the owner renews its lease; a crashed owner (never released) loses it at expiry, and release never deletes a successor lease', async () => {
    const raw = rawClient(server);
    const notices: string[] = [];
    const a = new RedisStore(configFor(server, { leaseTtl: 1500 }), { owner: 'pod-a', warn: (m) => notices.push(m) });
    const b = new RedisStore(configFor(server, { leaseTtl: 1500 }), { owner: 'pod-b' });
    try {
      await a.write('hz', '21');
      await raw.set('untouched-control', 'x');
      // Renewed at a third of the TTL: still pod-a's well after one TTL has passed.
      const since = Date.now();
      await waitFor('five seconds', () => Date.now() - since > 5000, 30_000);
      expect((await b.leaseHolder())?.owner).toBe('pod-a');
      // Each renewal touches the journal, so an allkeys-* eviction policy does not pick it as least recently used.
      expect(Number(await raw.object('IDLETIME', 'untouched-control'))).toBeGreaterThanOrEqual(4);
      expect(Number(await raw.object('IDLETIME', 'titan-perf:config-originals'))).toBeLessThanOrEqual(2);

      // Simulate a crash: the process is gone, so nobody renews (its connection dies with it).
      (await a.client()).disconnect();
      await waitFor('the lease to expire', async () => (await raw.exists('titan-perf:config-lease')) === 0, 30_000);
      await b.acquireLease();
      expect((await b.leaseHolder())?.owner).toBe('pod-b');
      // The new owner restores the crashed owner's journalled original.
      await b.restoreOriginals();
      expect(await configGet(raw, 'hz')).toBe('10');
      await waitFor('pod-a to notice the lost lease', () => notices.length > 0, 30_000);
      expect(notices[0]).toMatch(/lost the configuration lease .*only if no other sidecar holds it/);

      // An owner whose lease expired while it was stalled releases late: pod-b's lease must survive (compare-and-delete).
      const stalled = new RedisLease(raw, 'titan-perf-stall', 'pod-a', 60_000);
      await stalled.acquire();
      await raw.del('titan-perf-stall:config-lease');
      const successor = new RedisLease(raw, 'titan-perf-stall', 'pod-b', 60_000);
      await successor.acquire();
      await stalled.release();
      expect((await successor.holder())?.owner).toBe('pod-b');
      await successor.release();
      expect(await raw.exists('titan-perf-stall:config-lease')).toBe(0);
    } finally {
      await a.close();
      await b.close();
      raw.disconnect();
    }
  });
});
