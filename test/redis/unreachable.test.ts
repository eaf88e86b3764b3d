import { describe, expect, it } from 'vitest';
import { DEFAULT_PERFORMANCE_CONFIG } from '../../dist/src/index.js';
import { RedisStore } from '../../dist/src/redis/store.js';
import { freePort, startRedis } from '../helpers/redis-server';
import { runSidecarLike } from './support';

describe('Unreachable Redis', () => {
  it('bounded retries with back-off, then a clear error; the process exits on its own, no unhandled rejection', async () => {
    // A port nobody listens on: probed free, then closed again.
    const port = await freePort();
    const config = { ...DEFAULT_PERFORMANCE_CONFIG.redis, host: '127.0.0.1', port, connectRetries: 3 };
    // No close(): if a reconnect loop or a timer were left running, the process would never exit.
    const r = await runSidecarLike(config, { TITAN_TEST_NO_CLOSE: '1' });
    expect(r.out).toMatch(/RESULT error TITAN_PERF_REDIS_UNREACHABLE/);
    expect(r.out).toMatch(
      new RegExp(
        `MESSAGE cannot reach Redis at 127\\.0\\.0\\.1:${port} after 4 attempt\\(s\\) \\(connect ECONNREFUSED`,
      ),
    );
    // Back-off of 100, 200 and 400 ms between the four attempts: a lower bound, safe on a loaded machine.
    expect(Number(/after (\d+) ms/.exec(r.out)![1])).toBeGreaterThanOrEqual(700);
    expect(r.out).not.toContain('UNHANDLED');
    expect(r.code).toBe(0);
  });

  it('the store reports not ready, then connects once the server is back (a failed connection is not cached)', async () => {
    const port = await freePort();
    const store = new RedisStore({ ...DEFAULT_PERFORMANCE_CONFIG.redis, host: '127.0.0.1', port, connectRetries: 0 });
    const err = await store.desired().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'TITAN_PERF_REDIS_UNREACHABLE',
      message: expect.stringContaining('after 1 attempt(s)'),
    });
    const server = await startRedis({ port });
    try {
      expect(await store.read('hz')).toBe('10');
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

describe('Redis that goes away after connecting', () => {
  it('commands fail (no hang) while it is down, and the store reconnects when it is back', async () => {
    let server = await startRedis();
    const port = server.port;
    const store = new RedisStore({ ...DEFAULT_PERFORMANCE_CONFIG.redis, host: '127.0.0.1', port, connectRetries: 1 });
    try {
      expect(await store.read('hz')).toBe('10');
      await server.stop();
      // The one reconnect is spent while it is down; the call fails instead of waiting forever.
      await expect(store.read('hz')).rejects.toThrow();
      server = await startRedis({ port });
      expect(await store.read('hz')).toBe('10');
      expect((await store.desired()).length).toBeGreaterThan(10);
    } finally {
      await store.close();
      await server.stop();
    }
  });
});
