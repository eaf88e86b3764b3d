/**
 * Tunes the built-in fetch's connection pool by installing a tuned Agent as
 * undici's global dispatcher, and puts the original back on disable().
 *
 * Why it is done this way:
 * - The Agent is built from the class of the dispatcher Node itself created
 *   (`globalThis[Symbol.for('undici.globalDispatcher.*')].constructor`), so it
 *   is exactly the undici version the running fetch speaks. Agents from the npm
 *   undici package have broken other Node majors' fetch (handler API v1/v2,
 *   the `.1`/`.2` symbols, lost headers, content-length and redirects).
 * - Node loads its undici bundle and creates the dispatcher lazily, on the
 *   first fetch (or Headers, WebSocket, an ESM import of node:http) use; doing
 *   that at start-up costs 50-130 ms. So enable() only wraps globalThis.fetch
 *   and watches the empty dispatcher slots: the wrapper's first call loads the
 *   bundle, swaps the dispatcher and then dispatches, so even the first request
 *   uses the tuned pool; a bundle loaded some other way is swapped in a
 *   microtask. The original fetch goes back once done, if nobody replaced it.
 * - Global symbols per undici major: Node 22 (undici 6) reads `.1`; Node 24
 *   (undici 7) keeps one Agent in `.1` and `.2`; Node 26 (undici 8) reads `.2`
 *   and keeps a Dispatcher1Wrapper around it in `.1` for v1-API consumers.
 *   The swap mirrors whichever layout it finds.
 * - A dispatcher that exists at enable(), or that anyone but Node's bundle
 *   creates (the app, the npm undici package), is left alone. Known gap: an
 *   app that sets its own dispatcher in the same synchronous tick in which
 *   something else first loaded Node's bundle gets ours instead (the swap runs
 *   in the next microtask); its own later setGlobalDispatcher still wins.
 */
import type { ConnectionPoolingConfig } from '../config/sections/nodejs';
import type { PoolOriginReading } from './runtime-readings';
import type { TunerStatus } from './tuner-status';

const V1 = Symbol.for('undici.globalDispatcher.1');
const V2 = Symbol.for('undici.globalDispatcher.2');
/** Origins beyond this many are folded into one `_other` reading, so a crawler cannot grow the readings without bound. */
export const MAX_POOL_ORIGINS = 20;

type Slots = { [V1]?: Dispatcher; [V2]?: Dispatcher; fetch?: unknown };
interface Dispatcher {
  dispatch: (...args: unknown[]) => unknown;
  close?: () => Promise<void>;
  stats?: Record<string, PoolStatsLike>;
  constructor: new (...args: unknown[]) => Dispatcher;
}
/** undici's PoolStats: the per-origin reading without its origin. */
type PoolStatsLike = Omit<PoolOriginReading, 'origin'>;

export function fetchAgentOptions(p: ConnectionPoolingConfig): Record<string, unknown> {
  return {
    connections: p.maxConnections,
    keepAliveTimeout: p.keepAliveTimeout,
    keepAliveMaxTimeout: Math.max(p.keepAliveMaxTimeout, p.keepAliveTimeout),
    headersTimeout: p.headersTimeout,
    bodyTimeout: p.bodyTimeout,
    connect: { timeout: p.timeout },
  };
}

/** Reads a slot without running an accessor (ours, while armed). */
function peek(sym: symbol): Dispatcher | undefined {
  const d = Object.getOwnPropertyDescriptor(globalThis, sym);
  return d && 'value' in d ? (d.value as Dispatcher | undefined) : undefined;
}

function isDispatcher(x: unknown): x is Dispatcher {
  return typeof x === 'object' && x !== null && typeof (x as Dispatcher).dispatch === 'function';
}

export class FetchTuner {
  private readonly g = globalThis as unknown as Slots;
  private readonly options: Record<string, unknown>;
  private originalFetch: ((...args: unknown[]) => unknown) | undefined;
  private wrapper: ((...args: unknown[]) => unknown) | undefined;
  private tuned: Dispatcher | undefined;
  private tunedV1: Dispatcher | undefined;
  private originals: { v1?: Dispatcher; v2?: Dispatcher } = {};
  /** Who first read the empty dispatcher slot: Node's own bundle, or anyone else. */
  private loader: 'node' | 'other' | undefined;
  private readonly traps = new Map<symbol, () => unknown>();
  private state: TunerStatus = { name: 'fetch', state: 'off' };

  /** @param onFault reports a fault once (the tuner never throws into the app's fetch). */
  constructor(
    pooling: ConnectionPoolingConfig,
    private readonly onFault: (what: string, err: unknown) => void = () => {},
    private readonly onTuned: () => void = () => {},
  ) {
    this.options = fetchAgentOptions(pooling);
  }

  enable(): void {
    if (this.state.state !== 'off' && this.state.state !== 'restored') return;
    const g = this.g;
    if (typeof g.fetch !== 'function') {
      this.state = {
        name: 'fetch',
        state: 'left-alone',
        reason: 'this Node has no global fetch (--no-experimental-fetch?)',
      };
      return;
    }
    if (peek(V1) !== undefined || peek(V2) !== undefined) {
      this.state = { name: 'fetch', state: 'left-alone', reason: foreignDispatcherReason };
      return;
    }
    this.loader = undefined;
    this.installTraps();
    const original = g.fetch as (...args: unknown[]) => unknown;
    const self = this;
    // A plain function (not an arrow) so `this` behaves as with the original.
    const wrapper = function fetch(this: unknown, ...args: unknown[]) {
      self.takeOver();
      return original.apply(this, args);
    };
    Object.defineProperty(wrapper, 'length', { value: original.length });
    this.originalFetch = original;
    this.wrapper = wrapper;
    g.fetch = wrapper;
    this.state = {
      name: 'fetch',
      state: 'armed',
      reason: 'the tuned dispatcher is installed when Node loads its undici (first fetch, Headers, WebSocket...)',
    };
  }

  /**
   * Node's bundle may load before any fetch: an ESM `import http from
   * 'node:http'` reads http's lazy WebSocket export, Headers/Response are used
   * at start-up... Its first act is to read the global dispatcher slot and,
   * finding it empty, to define its default Agent. Accessors on the empty
   * slots see that read; the stack tells Node's bundle from the npm undici
   * package (whose dispatcher is never replaced). The swap runs in a microtask,
   * once the bundle has defined its Agent, before any request is dispatched.
   * Whoever defines the slot replaces the accessor (it is configurable).
   */
  private installTraps(): void {
    for (const sym of [V1, V2]) {
      const get = () => {
        this.onSlotRead();
        return undefined;
      };
      const set = (value: unknown) => {
        // Someone assigned a dispatcher: theirs stands, as it would without us.
        this.loader ??= 'other';
        this.removeTraps();
        Object.defineProperty(globalThis, sym, { value, writable: true, enumerable: false, configurable: false });
        queueMicrotask(() => this.takeOver());
      };
      this.traps.set(sym, get);
      Object.defineProperty(globalThis, sym, { get, set, enumerable: false, configurable: true });
    }
  }

  private removeTraps(): void {
    for (const [sym, get] of this.traps) {
      const d = Object.getOwnPropertyDescriptor(globalThis, sym);
      if (d?.get === get) delete (globalThis as Record<symbol, unknown>)[sym];
    }
    this.traps.clear();
  }

  private onSlotRead(): void {
    if (this.loader !== undefined) return;
    const stack = new Error().stack ?? '';
    this.loader = stack.includes('node:internal/deps/undici/') ? 'node' : 'other';
    queueMicrotask(() => this.takeOver());
  }

  /** Runs once Node's undici bundle exists: in the first fetch call (before dispatch), or in a microtask after the bundle loaded. */
  private takeOver(): void {
    if (this.state.state !== 'armed') return;
    const g = this.g;
    try {
      if (this.loader === undefined) {
        // The first fetch, and the bundle is not loaded yet: load it (a Headers
        // access does), which creates Node's default dispatcher through the traps.
        void (globalThis as { Headers?: unknown }).Headers;
      }
      if (this.loader !== 'node') {
        if (peek(V1) === undefined && peek(V2) === undefined) {
          // Someone only looked at the slot; keep waiting.
          this.loader = undefined;
          return;
        }
        this.finish({ name: 'fetch', state: 'left-alone', reason: foreignDispatcherReason });
        return;
      }
      const v1 = peek(V1);
      const v2 = peek(V2);
      const real = v2 ?? v1;
      if (!isDispatcher(real) || typeof real.constructor !== 'function') {
        this.finish({
          name: 'fetch',
          state: 'left-alone',
          reason: 'Node created no recognizable global dispatcher; fetch left as is',
        });
        return;
      }
      const tuned = new real.constructor(this.options);
      let tunedV1: Dispatcher | undefined = tuned;
      if (v2 !== undefined && v1 !== undefined && v1 !== v2) {
        // Node 26: `.1` is a v1-API wrapper around `.2`; wrap ours the same way.
        tunedV1 = new v1.constructor(tuned);
      }
      this.originals = { v1, v2 };
      if (v2 !== undefined) g[V2] = tuned;
      if (v1 !== undefined) g[V1] = tunedV1;
      this.tuned = tuned;
      this.tunedV1 = v1 !== undefined ? tunedV1 : undefined;
      this.finish({ name: 'fetch', state: 'tuned', settings: { ...this.options, undici: process.versions.undici } });
      this.onTuned();
    } catch (err) {
      this.putBack();
      this.finish({
        name: 'fetch',
        state: 'left-alone',
        reason: `tuning failed, fetch left as is: ${(err as Error)?.message ?? err}`,
      });
      this.onFault('fetch tuning', err);
    }
  }

  /** Leaves the armed state: the wrapper and the traps have done their job. */
  private finish(state: TunerStatus): void {
    this.state = state;
    if (this.wrapper && this.g.fetch === this.wrapper) this.g.fetch = this.originalFetch;
    this.removeTraps();
  }

  private putBack(): void {
    const g = this.g;
    if (this.tuned && peek(V2) === this.tuned) g[V2] = this.originals.v2;
    if (this.tunedV1 && peek(V1) === this.tunedV1) g[V1] = this.originals.v1;
  }

  /** Puts back the original fetch and dispatcher, each only if nobody replaced ours since. */
  disable(): void {
    const g = this.g;
    if (this.wrapper && g.fetch === this.wrapper) g.fetch = this.originalFetch;
    this.removeTraps();
    if (this.tuned) {
      const replaced = !this.owned();
      this.putBack();
      // Requests in flight finish; new ones go to the restored dispatcher.
      this.tuned.close?.().catch(() => {});
      this.state = replaced
        ? { name: 'fetch', state: 'restored', reason: 'the app had replaced the tuned dispatcher; its own was kept' }
        : { name: 'fetch', state: 'restored' };
    } else if (this.state.state === 'armed') {
      this.state = { name: 'fetch', state: 'restored' };
    }
    this.wrapper = undefined;
    this.originalFetch = undefined;
    this.tuned = undefined;
    this.tunedV1 = undefined;
  }

  private owned(): boolean {
    if (!this.tuned) return false;
    return this.originals.v2 !== undefined ? peek(V2) === this.tuned : peek(V1) === this.tuned;
  }

  status(): TunerStatus {
    if (this.state.state === 'tuned' && !this.owned()) {
      return {
        name: 'fetch',
        state: 'replaced',
        reason:
          'the app (or a package it loaded, such as npm undici 8 on Node 22) installed its own global dispatcher after titan-perf tuned it; left as is',
        settings: this.state.settings,
      };
    }
    return { ...this.state };
  }

  /**
   * Which copies of the npm undici package send through the tuned Agent:
   * undici reads its global dispatcher from the same global symbol as Node's
   * fetch, so once fetch is tuned, the package's request(), stream() and
   * fetch() without a `dispatcher` option use the tuned pool too (undici 6
   * and 7 read `.1`, undici 8 `.2`). Calls with their own dispatcher, and an
   * app's own setGlobalDispatcher, are never touched.
   */
  npmUndiciStatus(): TunerStatus | undefined {
    if (!this.tuned || !this.owned()) return undefined;
    const { loadedUndiciPackages } = require('./npm-undici') as typeof import('./npm-undici');
    const sharing = loadedUndiciPackages().filter((u) => {
      try {
        const d = u.getGlobalDispatcher();
        return d === this.tuned || d === this.tunedV1;
      } catch {
        return false;
      }
    });
    if (sharing.length === 0) return undefined;
    const versions = [...new Set(sharing.map((u) => u.version))].join(', ');
    return {
      name: 'npm undici global dispatcher',
      state: 'tuned',
      reason:
        `npm undici's global dispatcher is shared with fetch (undici ${versions}): its request(), stream() and fetch() ` +
        `without a dispatcher option use the tuned Agent (${String(this.options.connections)} connections per origin). ` +
        'A dispatcher passed per call or set with setGlobalDispatcher() is never touched.',
      settings: this.state.settings,
    };
  }

  /** The tuned Agent (undefined until the first fetch call). */
  get agent(): unknown {
    return this.tuned;
  }

  /** Per-origin pool state of the tuned Agent. */
  pools(): PoolOriginReading[] {
    if (!this.tuned || !this.owned()) return [];
    const stats = perOriginStats(this.tuned);
    const entries = Object.entries(stats);
    const out: PoolOriginReading[] = [];
    const other: PoolOriginReading = {
      origin: '_other',
      connected: 0,
      free: 0,
      pending: 0,
      queued: 0,
      running: 0,
      size: 0,
    };
    for (const [origin, s] of entries) {
      const r = {
        origin,
        connected: s.connected,
        free: s.free,
        pending: s.pending,
        queued: s.queued,
        running: s.running,
        size: s.size,
      };
      if (out.length < MAX_POOL_ORIGINS) out.push(r);
      else for (const k of ['connected', 'free', 'pending', 'queued', 'running', 'size'] as const) other[k] += r[k];
    }
    if (entries.length > MAX_POOL_ORIGINS) out.push(other);
    return out;
  }
}

const foreignDispatcherReason =
  'a global dispatcher was installed by someone other than Node (the app or the npm undici package); left as is';

/** Agent#stats on undici 7+; on undici 6 (Node 22) the per-origin Pools' own stats. */
function perOriginStats(agent: Dispatcher): Record<string, PoolStatsLike> {
  const direct = agent.stats;
  if (direct && typeof direct === 'object') return direct;
  const out: Record<string, PoolStatsLike> = {};
  const clientsKey = Object.getOwnPropertySymbols(agent).find((s) => s.description === 'clients');
  const clients = clientsKey ? (agent as unknown as Record<symbol, unknown>)[clientsKey] : undefined;
  if (!(clients instanceof Map)) return out;
  for (const [origin, entry] of clients) {
    let pool: unknown = entry;
    if (pool instanceof WeakRef) pool = pool.deref();
    else if (pool && typeof pool === 'object' && 'dispatcher' in pool)
      pool = (pool as { dispatcher: unknown }).dispatcher;
    const s = (pool as { stats?: PoolStatsLike } | undefined)?.stats;
    if (s && typeof s.connected === 'number') out[String(origin)] = s;
  }
  return out;
}
