/**
 * Database connection pools against a real redis-server (ioredis clients as
 * the pooled connections) and a real TCP port nobody listens on.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseConnectionPool } from '../../dist/src/index.js';
import { isPoolNameTaken } from '../../dist/src/pools/registry.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server';
import { waitFor } from '../helpers/wait';

const DEFAULTS = { maxConnections: 50, timeout: 30_000 };
let redis: RedisServer;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
  await admin.connect();
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

async function connect(port = redis.port, connectionName = 'pooled'): Promise<Redis> {
  // No reconnects: a killed connection must stay dead so the pool's validation sees it.
  const c = new Redis({
    host: '127.0.0.1',
    port,
    connectionName,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  c.on('error', () => {}); // the failure reaches the pool through connect()'s rejection
  try {
    await c.connect();
  } catch (err) {
    c.disconnect();
    throw err;
  }
  return c;
}
const close = async (c: Redis) => {
  c.disconnect();
};
const alive = async (c: Redis) => c.status === 'ready' && (await c.ping()) === 'PONG';

/** Connections the server sees under one client name: each test names its own, so earlier tests' closing sockets do not count. */
async function connectedClients(name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}

describe('database connection pool', () => {
  it('lends real connections up to max, then fails a waiting acquire with a coded timeout', async () => {
    const pool = new DatabaseConnectionPool(
      'exhaust',
      () => connect(),
      close,
      { max: 2, acquireTimeout: 600 },
      DEFAULTS,
    );
    try {
      const a = await pool.acquire();
      const b = await pool.acquire();
      expect(a).not.toBe(b);
      expect(await a.ping()).toBe('PONG');
      expect(await b.ping()).toBe('PONG');

      const waiting = pool.acquire();
      await waitFor('a pending acquire', () => pool.reading().pending === 1);
      expect(pool.reading()).toMatchObject({
        name: 'exhaust',
        max: 2,
        size: 2,
        used: 2,
        idle: 0,
        pending: 1,
        timeouts: 0,
      });

      const err = await waiting.then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err?.code).toBe('TITAN_PERF_POOL_ACQUIRE_TIMEOUT');
      expect(err?.message).toMatch(/'exhaust'.*600 ms.*all 2 borrowed/);
      const after = pool.reading();
      expect(after.timeouts).toBe(1);
      expect(after.waitMsMax).toBeGreaterThanOrEqual(500);

      // A waiter is served as soon as a connection comes back.
      const next = pool.acquire();
      await pool.release(a);
      expect(await next).toBe(a);
      await pool.release(b);
      await pool.release(a);
      expect(pool.reading()).toMatchObject({ used: 0, idle: 2, pending: 0 });
    } finally {
      await pool.close();
    }
  });

  it('replaces a connection the server killed instead of lending it (validate on borrow)', async () => {
    const pool = new DatabaseConnectionPool(
      'dead',
      () => connect(),
      close,
      { max: 1, acquireTimeout: 10_000, validate: alive },
      DEFAULTS,
    );
    try {
      const first = await pool.acquire();
      const firstId = await first.client('ID');
      await pool.release(first);
      await admin.client('KILL', 'ID', String(firstId));
      await waitFor('the killed connection to end', () => first.status === 'end');

      const second = await pool.acquire();
      expect(second).not.toBe(first);
      expect(await second.ping()).toBe('PONG');
      expect(await second.client('ID')).not.toBe(firstId);
      expect(pool.reading()).toMatchObject({ size: 1, used: 1 });
      await pool.release(second);
    } finally {
      await pool.close();
    }
  });

  it('closes idle connections after idleTimeout', async () => {
    const pool = new DatabaseConnectionPool(
      'idle',
      () => connect(redis.port, 'idle'),
      close,
      { max: 3, idleTimeout: 300 },
      DEFAULTS,
    );
    try {
      const conns = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
      expect(await connectedClients('idle')).toBe(3);
      for (const c of conns) await pool.release(c);

      await waitFor('idle eviction', () => pool.reading().size === 0);
      await waitFor('the server to see the connections go', async () => (await connectedClients('idle')) === 0);
    } finally {
      await pool.close();
    }
  });

  it('reports a refused server as a connect failure without spinning on create', async () => {
    const port = await freePort(); // nothing listens here
    let attempts = 0;
    const pool = new DatabaseConnectionPool(
      'refused',
      () => {
        attempts++;
        return connect(port);
      },
      close,
      { max: 2, acquireTimeout: 1500 },
      DEFAULTS,
    );
    try {
      const err = await pool.acquire().then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string; cause?: unknown },
      );
      expect(err?.code).toBe('TITAN_PERF_POOL_CONNECT_FAILED');
      expect(err?.message).toMatch(/the last \d+ connect attempt\(s\) failed: \S/);
      expect(err?.cause).toBeDefined();
      // Without back-off generic-pool retries create back to back (thousands in 1.5 s); with it, a handful.
      expect(attempts).toBeGreaterThan(0);
      expect(attempts).toBeLessThan(40);
      expect(pool.reading().timeouts).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('drains on close: waits for borrowed connections, closes all, refuses new acquires, frees the name', async () => {
    const pool = new DatabaseConnectionPool('drain', () => connect(redis.port, 'drain'), close, { max: 2 }, DEFAULTS);
    const a = await pool.acquire();
    const b = await pool.acquire();
    await pool.release(b);
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect(pool.closed).toBe(true);
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'TITAN_PERF_POOL_CLOSED' });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false); // still lent out
    expect(await a.ping()).toBe('PONG');
    await pool.release(a);
    await closing;
    await waitFor(
      'the server to see every pooled connection close',
      async () => (await connectedClients('drain')) === 0,
    );
    expect(isPoolNameTaken('drain')).toBe(false);

    // A connection never given back does not hold the shutdown past its deadline.
    const again = new DatabaseConnectionPool('drain', () => connect(redis.port, 'drain'), close, { max: 1 }, DEFAULTS);
    const _kept = await again.acquire();
    await again.close(300);
    await waitFor('the kept connection to close', async () => (await connectedClients('drain')) === 0);
  });

  it('refuses bad arguments with coded errors naming them, and creates nothing', async () => {
    const create = () => connect();
    const bad: [unknown[], RegExp][] = [
      [['', create, close], /name: got ""/],
      [[42, create, close], /name: got 42/],
      [['x', 'nope', close], /create: got "nope"; expected a function/],
      [['x', create, null], /destroy: got null; expected a function/],
      [['x', create, close, 5], /options: got 5/],
      [['x', create, close, { max: 0 }], /options\.max: got 0; expected an integer from 1 to 10000/],
      [['x', create, close, { max: 1.5 }], /options\.max: got 1\.5/],
      [['x', create, close, { max: 2, min: 3 }], /options\.min: got 3; expected an integer from 0 to 2/],
      [['x', create, close, { acquireTimeout: -1 }], /options\.acquireTimeout: got -1/],
      [['x', create, close, { acquireTimeout: '5s' }], /options\.acquireTimeout: got "5s"/],
      [['x', create, close, { idleTimeout: 0 }], /options\.idleTimeout: got 0/],
      [['x', create, close, { validate: true }], /options\.validate: got true; expected a function/],
      [
        ['x', create, close, { maxConnections: 5 }],
        /options\.maxConnections: got 5; expected no such option; known: max, min/,
      ],
    ];
    for (const [args, message] of bad) {
      let caught: { code?: string; message?: string } | undefined;
      try {
        new (DatabaseConnectionPool as unknown as new (...a: unknown[]) => unknown)(...args, DEFAULTS);
      } catch (e) {
        caught = e as { code?: string; message?: string };
      }
      expect(caught?.code, String(message)).toBe('TITAN_PERF_INVALID_ARGUMENT');
      expect(caught?.message).toMatch(message);
    }
    expect(isPoolNameTaken('x')).toBe(false);

    const pool = new DatabaseConnectionPool('args', create, close, { max: 1 }, DEFAULTS);
    try {
      expect(() => new DatabaseConnectionPool('args', create, close, {}, DEFAULTS)).toThrow(
        /name: got "args"; expected a name no other open pool uses/,
      );
      const stranger = await connect();
      expect(() => pool.release(stranger)).toThrow(expect.objectContaining({ code: 'TITAN_PERF_INVALID_ARGUMENT' }));
      stranger.disconnect();
      const c = await pool.acquire();
      await pool.release(c);
      expect(() => pool.release(c)).toThrow(/release connection.*not yet released/);
    } finally {
      await pool.close();
    }
  });
});
