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
 *   first fetch (or Headers/Request/Response) use; doing that at start-up costs
 *   50-130 ms. So enable() only wraps globalThis.fetch; the wrapper's first
 *   call loads the bundle (through a Headers access), swaps the dispatcher and
 *   then dispatches the request, so even the first request uses the tuned pool.
 *   The original fetch goes back right away if nobody replaced the wrapper.
 * - Global symbols per undici major: Node 22 (undici 6) reads `.1`; Node 24
 *   (undici 7) keeps one Agent in `.1` and `.2`; Node 26 (undici 8) reads `.2`
 *   and keeps a Dispatcher1Wrapper around it in `.1` for v1-API consumers.
 *   The swap mirrors whichever layout it finds.
 * - A dispatcher that exists before the first fetch was put there by someone
 *   else (the app, npm undici, an early Headers use): it is left alone.
 */
import type { ConnectionPoolingConfig } from '../config/sections/nodejs';
import type { PoolOriginReading } from './readings';
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
interface PoolStatsLike {
  connected: number;
  free: number;
  pending: number;
  queued: number;
  running: number;
  size: number;
}

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
      this.state = { name: 'fetch', state: 'left-alone', reason: 'this Node has no global fetch (--no-experimental-fetch?)' };
      return;
    }
    if (g[V1] !== undefined || g[V2] !== undefined) {
      this.state = { name: 'fetch', state: 'left-alone', reason: foreignDispatcherReason };
      return;
    }
    const original = g.fetch as (...args: unknown[]) => unknown;
    const self = this;
    // A plain function (not an arrow) so `this` and `new.target` behave as with the original.
    const wrapper = function fetch(this: unknown, ...args: unknown[]) {
      self.takeOver();
      return original.apply(this, args);
    };
    Object.defineProperty(wrapper, 'length', { value: original.length });
    this.originalFetch = original;
    this.wrapper = wrapper;
    g.fetch = wrapper;
    this.state = { name: 'fetch', state: 'armed', reason: 'the tuned dispatcher is installed at the first fetch call' };
  }

  /** Runs once, inside the first fetch call, before the request is dispatched. */
  private takeOver(): void {
    if (this.state.state !== 'armed') return;
    const g = this.g;
    if (g.fetch === this.wrapper) g.fetch = this.originalFetch;
    try {
      if (g[V1] !== undefined || g[V2] !== undefined) {
        this.state = { name: 'fetch', state: 'left-alone', reason: foreignDispatcherReason };
        return;
      }
      // Loads Node's undici bundle, which creates its default global dispatcher.
      void (globalThis as { Headers?: unknown }).Headers;
      // Re-read: the Headers access above just created them (TypeScript cannot know).
      const v1 = (g as Slots)[V1] as Dispatcher | undefined;
      const v2 = (g as Slots)[V2] as Dispatcher | undefined;
      const real = v2 ?? v1;
      if (!isDispatcher(real) || typeof real.constructor !== 'function') {
        this.state = { name: 'fetch', state: 'left-alone', reason: 'Node created no recognizable global dispatcher; fetch left as is' };
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
      this.state = { name: 'fetch', state: 'tuned', settings: { ...this.options, undici: process.versions.undici } };
      this.onTuned();
    } catch (err) {
      this.putBack();
      this.state = { name: 'fetch', state: 'left-alone', reason: `tuning failed, fetch left as is: ${(err as Error)?.message ?? err}` };
      this.onFault('fetch tuning', err);
    }
  }

  private putBack(): void {
    const g = this.g;
    if (this.tuned && g[V2] === this.tuned) g[V2] = this.originals.v2;
    if (this.tunedV1 && g[V1] === this.tunedV1) g[V1] = this.originals.v1;
  }

  /** Puts back the original fetch and dispatcher, each only if nobody replaced ours since. */
  disable(): void {
    const g = this.g;
    if (this.wrapper && g.fetch === this.wrapper) g.fetch = this.originalFetch;
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
    const g = this.g;
    if (!this.tuned) return false;
    return this.originals.v2 !== undefined ? g[V2] === this.tuned : g[V1] === this.tuned;
  }

  status(): TunerStatus {
    if (this.state.state === 'tuned' && !this.owned()) {
      return { name: 'fetch', state: 'replaced', reason: 'the app installed its own global dispatcher after titan-perf tuned it; left as is', settings: this.state.settings };
    }
    return { ...this.state };
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
    const other: PoolOriginReading = { origin: '_other', connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 };
    for (const [origin, s] of entries) {
      const r = { origin, connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size };
      if (out.length < MAX_POOL_ORIGINS) out.push(r);
      else for (const k of ['connected', 'free', 'pending', 'queued', 'running', 'size'] as const) other[k] += r[k];
    }
    if (entries.length > MAX_POOL_ORIGINS) out.push(other);
    return out;
  }
}

const foreignDispatcherReason =
  'a global dispatcher already existed before the first fetch (set by the app, the npm undici package, or created by an early Headers/Request/Response use); left as is';

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
    else if (pool && typeof pool === 'object' && 'dispatcher' in pool) pool = (pool as { dispatcher: unknown }).dispatcher;
    const s = (pool as { stats?: PoolStatsLike } | undefined)?.stats;
    if (s && typeof s.connected === 'number') out[String(origin)] = s;
  }
  return out;
}
