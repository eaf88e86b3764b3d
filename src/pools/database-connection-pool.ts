/**
 * A database connection pool on generic-pool with the limits of the config's
 * connection-pooling section, validation on borrow, idle eviction, a coded
 * error on acquire timeout, drain on close, and readings for the score and
 * the db.client.connection.* metrics.
 *
 * generic-pool retries a failing `create` in a tight loop until some acquire
 * times out (coopernurse/node-pool#175, #183): a server that refuses
 * connections would burn a core. Failed creates are therefore delayed with a
 * capped back-off, and the acquire timeout reports the last connect error.
 */
import type { Factory, Options, Pool } from 'generic-pool';
import { ArgumentError, TitanPerfError } from '../errors';
import type { ConnectionPoolingConfig } from '../config/sections/nodejs';
import type { DbPoolReading } from '../runtime/runtime-readings';
import { checkFunction, checkInt, checkName, checkOptions } from '../arguments';
import { isPoolNameTaken, registerPool, unregisterPool } from './registry';
import { requireOptional } from '../optional-package';

export interface DatabaseConnectionPoolOptions<T> {
  /** Most connections at once; default nodejs.connectionPooling.maxConnections. */
  max?: number;
  /** Connections kept open even when idle; default 0. */
  min?: number;
  /** ms an acquire waits before failing with TITAN_PERF_POOL_ACQUIRE_TIMEOUT; default nodejs.connectionPooling.timeout. */
  acquireTimeout?: number;
  /** ms a connection may sit idle before it is closed; default 30000. */
  idleTimeout?: number;
  /** Checked before each borrow; a connection it rejects (false or throws) is destroyed and replaced. */
  validate?: (connection: T) => boolean | Promise<boolean>;
}

const OPTION_KEYS = ['max', 'min', 'acquireTimeout', 'idleTimeout', 'validate'] as const;
const WAIT_SAMPLES = 1024;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
const DESTROY_TIMEOUT_MS = 5000;
/** Default window of the wait-time reading when the caller gives none. */
const DEFAULT_WINDOW_MS = 60_000;

export const POOL_ERROR_CODES = {
  acquireTimeout: 'TITAN_PERF_POOL_ACQUIRE_TIMEOUT',
  connectFailed: 'TITAN_PERF_POOL_CONNECT_FAILED',
  closed: 'TITAN_PERF_POOL_CLOSED',
} as const;

export class DatabaseConnectionPool<T extends object = object> {
  readonly name: string;
  readonly max: number;
  readonly acquireTimeout: number;
  private readonly pool: Pool<T>;
  private timeouts = 0;
  private failedCreates = 0;
  private lastCreateError: unknown;
  private readonly waits = new Float64Array(WAIT_SAMPLES);
  private readonly waitAt = new Float64Array(WAIT_SAMPLES);
  private waitCount = 0;
  private closing: Promise<void> | undefined;
  /** Lent out and not yet back, so close() can reclaim them after its deadline. */
  private readonly borrowed = new Set<T>();

  constructor(
    name: string,
    create: () => T | Promise<T>,
    destroy: (connection: T) => unknown,
    options: DatabaseConnectionPoolOptions<T> | undefined,
    defaults: Pick<ConnectionPoolingConfig, 'maxConnections' | 'timeout'>,
  ) {
    const arg = 'createDatabaseConnectionPool';
    this.name = checkName(`${arg} name`, name);
    checkFunction(`${arg} create`, create);
    checkFunction(`${arg} destroy`, destroy);
    const o = checkOptions(`${arg} options`, options, OPTION_KEYS) as DatabaseConnectionPoolOptions<T>;
    this.max = o.max === undefined ? defaults.maxConnections : checkInt(`${arg} options.max`, o.max, 1, 10_000);
    const min = o.min === undefined ? 0 : checkInt(`${arg} options.min`, o.min, 0, this.max);
    this.acquireTimeout =
      o.acquireTimeout === undefined
        ? defaults.timeout
        : checkInt(`${arg} options.acquireTimeout`, o.acquireTimeout, 1, 3_600_000, 'ms');
    const idleTimeout =
      o.idleTimeout === undefined
        ? 30_000
        : checkInt(`${arg} options.idleTimeout`, o.idleTimeout, 100, 86_400_000, 'ms');
    const validate =
      o.validate === undefined
        ? undefined
        : checkFunction<(c: T) => boolean | Promise<boolean>>(`${arg} options.validate`, o.validate);
    if (isPoolNameTaken(this.name))
      throw new ArgumentError(`${arg} name`, name, 'a name no other open pool uses (close the old one first)');

    const factory: Factory<T> = {
      create: () => this.createConnection(create),
      destroy: async (c) => {
        await destroy(c);
      },
    };
    if (validate) {
      factory.validate = async (c) => {
        try {
          return (await validate(c)) === true;
        } catch {
          return false;
        }
      };
    }
    // destroyTimeoutMillis exists in generic-pool 3.9's code but not in its typings.
    const opts: Options & { destroyTimeoutMillis: number } = {
      max: this.max,
      min,
      acquireTimeoutMillis: this.acquireTimeout,
      destroyTimeoutMillis: DESTROY_TIMEOUT_MS,
      testOnBorrow: validate !== undefined,
      idleTimeoutMillis: idleTimeout,
      // Evict in steps well inside the idle timeout; generic-pool unrefs this timer.
      evictionRunIntervalMillis: Math.max(50, Math.min(idleTimeout / 2, 10_000)),
      numTestsPerEvictionRun: this.max,
    };
    // Required here rather than at the top: loading the library (its types,
    // the optimizers) never pays for generic-pool, an optional dependency.
    const genericPool = requireOptional<typeof import('generic-pool')>(
      'generic-pool',
      'createDatabaseConnectionPool',
      () => require('generic-pool'),
    );
    this.pool = genericPool.createPool(factory, opts);
    // Without a listener these events are silently dropped; the count feeds the message of a later timeout.
    this.pool.on('factoryCreateError', () => {});
    this.pool.on('factoryDestroyError', () => {});
    registerPool(this);
  }

  private async createConnection(create: () => T | Promise<T>): Promise<T> {
    if (this.closing) throw new TitanPerfError(POOL_ERROR_CODES.closed, `database pool '${this.name}' is closed`);
    try {
      const c = await create();
      if (typeof c !== 'object' || c === null) {
        throw new TitanPerfError(
          POOL_ERROR_CODES.connectFailed,
          `database pool '${this.name}': create() returned ${String(c)}, expected a connection object`,
        );
      }
      this.failedCreates = 0;
      this.lastCreateError = undefined;
      return c;
    } catch (err) {
      this.failedCreates++;
      this.lastCreateError = err;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.failedCreates - 1, 10));
      await new Promise((r) => setTimeout(r, delay).unref());
      throw err;
    }
  }

  /** Borrows a connection; fails with TITAN_PERF_POOL_ACQUIRE_TIMEOUT (or _CONNECT_FAILED when the server refused) after acquireTimeout ms. */
  async acquire(): Promise<T> {
    if (this.closing)
      throw new TitanPerfError(POOL_ERROR_CODES.closed, `database pool '${this.name}' is closed; create a new one`);
    const start = performance.now();
    try {
      const c = await this.pool.acquire();
      this.recordWait(performance.now() - start);
      this.borrowed.add(c);
      return c;
    } catch (err) {
      this.recordWait(performance.now() - start);
      if ((err as Error)?.name !== 'TimeoutError') throw err;
      this.timeouts++;
      if (this.lastCreateError !== undefined) {
        const why = String((this.lastCreateError as Error)?.message ?? this.lastCreateError).split('\n')[0];
        throw new TitanPerfError(
          POOL_ERROR_CODES.connectFailed,
          `database pool '${this.name}': no connection within ${this.acquireTimeout} ms; the last ${this.failedCreates} connect attempt(s) failed: ${why}`,
          { cause: this.lastCreateError },
        );
      }
      throw new TitanPerfError(
        POOL_ERROR_CODES.acquireTimeout,
        `database pool '${this.name}': no connection within ${this.acquireTimeout} ms (all ${this.max} borrowed, ${this.pool.pending} waiting); ` +
          'release connections sooner, or raise options.max / nodejs.connectionPooling.maxConnections',
      );
    }
  }

  /** Returns a borrowed connection to the pool. */
  release(connection: T): Promise<void> {
    this.checkBorrowed('release', connection);
    this.borrowed.delete(connection);
    return this.pool.release(connection);
  }

  /** Closes a borrowed connection the caller found broken instead of returning it. */
  destroy(connection: T): Promise<void> {
    this.checkBorrowed('destroy', connection);
    this.borrowed.delete(connection);
    return this.pool.destroy(connection);
  }

  /** Runs `fn` with a borrowed connection and always gives it back. */
  async use<R>(fn: (connection: T) => R | Promise<R>): Promise<R> {
    checkFunction('DatabaseConnectionPool.use fn', fn);
    const c = await this.acquire();
    try {
      return await fn(c);
    } finally {
      if (this.borrowed.has(c)) await this.release(c);
    }
  }

  private checkBorrowed(method: string, connection: T): void {
    if (!this.pool.isBorrowedResource(connection)) {
      throw new ArgumentError(
        `DatabaseConnectionPool.${method} connection`,
        typeof connection === 'object' ? '[object]' : connection,
        `a connection borrowed from pool '${this.name}' with acquire() and not yet released`,
      );
    }
  }

  private recordWait(ms: number): void {
    const i = this.waitCount++ % WAIT_SAMPLES;
    this.waits[i] = ms;
    this.waitAt[i] = Date.now();
  }

  reading(windowMs = DEFAULT_WINDOW_MS): DbPoolReading {
    const since = Date.now() - windowMs;
    const recent: number[] = [];
    for (let i = 0; i < Math.min(this.waitCount, WAIT_SAMPLES); i++)
      if (this.waitAt[i] >= since) recent.push(this.waits[i]);
    recent.sort((a, b) => a - b);
    return {
      name: this.name,
      max: this.max,
      size: this.pool.size,
      idle: this.pool.available,
      used: this.pool.borrowed,
      pending: this.pool.pending,
      waitMsP50: recent.length ? recent[Math.floor((recent.length - 1) / 2)] : 0,
      waitMsMax: recent.length ? recent[recent.length - 1] : 0,
      timeouts: this.timeouts,
    };
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Stops lending, waits up to `timeoutMs` for borrowed connections to come
   * back, then destroys every connection, borrowed or not: a caller that
   * never releases must not hold a shutdown forever. Idempotent.
   */
  close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return this.closing;
    checkInt('DatabaseConnectionPool.close timeoutMs', timeoutMs, 0, 3_600_000, 'ms');
    this.closing = (async () => {
      unregisterPool(this);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()));
      await Promise.race([this.pool.drain(), deadline]);
      clearTimeout(timer);
      await Promise.all([...this.borrowed].map((c) => this.pool.destroy(c).catch(() => {})));
      await this.pool.drain();
      await this.pool.clear();
    })();
    return this.closing;
  }
}
