/**
 * The preload's instruments on one Meter. Observables read the latest
 * readings in a single batch callback (one pass per collection, nothing
 * computed between collections); GC pauses and warnings are recorded as they
 * arrive. `dispose()` detaches everything so the same state can move to
 * another MeterProvider (the app's, registered after ours).
 */
import type { Attributes, BatchObservableResult, Counter, Histogram, Meter, Observable } from '@opentelemetry/api';
import type { DbPoolReading, EventLoopStall, PoolOriginReading, Readings } from '../runtime/runtime-readings';
import { selfTime } from '../runtime/self-time';
import { capRows } from './cap';
import { GC_BUCKETS, OVERFLOW, PREFIX, PRELOAD_METRICS, STALL_BUCKETS, type MetricSpec } from './names';
import type { SourceState } from './source';

export interface RuntimeInstrumentLimits {
  maxOrigins: number;
  maxDbPools: number;
}

export interface RuntimeInstrumentOptions extends RuntimeInstrumentLimits {
  /** The performance score, 0..100, when a score is computed in this process. */
  score?: () => number | undefined;
}

const MS = 1 / 1000;

function observable(meter: Meter, spec: MetricSpec): Observable {
  const opts = { unit: spec.unit, description: spec.description };
  switch (spec.kind) {
    case 'counter':
      return meter.createObservableCounter(spec.name, opts);
    case 'updowncounter':
      return meter.createObservableUpDownCounter(spec.name, opts);
    default:
      return meter.createObservableGauge(spec.name, opts);
  }
}

export function originAttributes(origin: string): Attributes {
  if (origin === OVERFLOW) return { 'server.address': OVERFLOW };
  try {
    const u = new URL(origin);
    const scheme = u.protocol.replace(/:$/, '');
    const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
    return { 'server.address': u.hostname.replace(/^\[|\]$/g, ''), 'server.port': port, 'url.scheme': scheme };
  } catch {
    return { 'server.address': origin };
  }
}

export class RuntimeInstruments {
  private readonly observables = new Map<string, Observable>();
  private readonly gcDuration: Histogram;
  private readonly warnings: Counter;
  private readonly stalls: Counter;
  private readonly stallDuration: Histogram;
  // Collecting is titan-perf's own main-thread time.
  private readonly callback = (result: BatchObservableResult) => selfTime().measure(() => this.observe(result));
  private disposed = false;

  constructor(
    private readonly meter: Meter,
    private readonly state: SourceState,
    private readonly opts: RuntimeInstrumentOptions,
  ) {
    for (const spec of PRELOAD_METRICS) {
      if (spec.recorded) continue;
      this.observables.set(spec.name, observable(meter, spec));
    }
    const gc = PRELOAD_METRICS.find((m) => m.name === 'v8js.gc.duration')!;
    this.gcDuration = meter.createHistogram(gc.name, {
      unit: gc.unit,
      description: gc.description,
      advice: { explicitBucketBoundaries: GC_BUCKETS },
    });
    const w = PRELOAD_METRICS.find((m) => m.name === `${PREFIX}warnings`)!;
    this.warnings = meter.createCounter(w.name, { unit: w.unit, description: w.description });
    const stalls = PRELOAD_METRICS.find((m) => m.name === `${PREFIX}eventloop.stalls`)!;
    this.stalls = meter.createCounter(stalls.name, { unit: stalls.unit, description: stalls.description });
    const sd = PRELOAD_METRICS.find((m) => m.name === `${PREFIX}eventloop.stall.duration`)!;
    this.stallDuration = meter.createHistogram(sd.name, {
      unit: sd.unit,
      description: sd.description,
      advice: { explicitBucketBoundaries: STALL_BUCKETS },
    });
    meter.addBatchObservableCallback(this.callback, [...this.observables.values()]);
    state.hooks = {
      readings: (r) => this.recordGc(r),
      warning: (warning) =>
        this.warnings.add(1, {
          [`${PREFIX}warning.metric`]: warning.metric,
          [`${PREFIX}warning.severity`]: warning.severity,
        }),
      stall: (stall) => this.recordStall(stall),
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.state.hooks = undefined;
    this.meter.removeBatchObservableCallback(this.callback, [...this.observables.values()]);
  }

  private recordGc(r: Readings): void {
    for (const p of r.gc.pauses) this.gcDuration.record(p.durationMs * MS, { 'v8js.gc.type': p.kind });
  }

  private recordStall(stall: EventLoopStall): void {
    if (stall.self) return;
    this.stalls.add(1);
    this.stallDuration.record(stall.durationMs * MS);
  }

  private obs(name: string): Observable {
    return this.observables.get(name)!;
  }

  private observe(result: BatchObservableResult): void {
    const r = this.state.readings();
    const el = this.state.takeEventLoop();
    if (r && el) {
      for (const stat of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const) {
        result.observe(this.obs(`nodejs.eventloop.delay.${stat}`), el[stat] * MS);
      }
      result.observe(this.obs('nodejs.eventloop.utilization'), el.utilization);
      result.observe(this.obs('nodejs.eventloop.time'), el.activeTime, { 'nodejs.eventloop.state': 'active' });
      result.observe(this.obs('nodejs.eventloop.time'), el.idleTime, { 'nodejs.eventloop.state': 'idle' });
      for (const s of r.heap.spaces) {
        const attrs = { 'v8js.heap.space.name': s.space };
        result.observe(this.obs('v8js.memory.heap.used'), s.used, attrs);
        result.observe(this.obs('v8js.memory.heap.space.size'), s.size, attrs);
        result.observe(this.obs('v8js.memory.heap.space.available_size'), s.available, attrs);
        result.observe(this.obs('v8js.memory.heap.space.physical_size'), s.physical, attrs);
      }
      result.observe(this.obs('process.memory.usage'), r.heap.rss);
      result.observe(this.obs(`${PREFIX}heap.limit`), r.heap.limit);
      result.observe(this.obs(`${PREFIX}gc.pause_share`), r.gc.pauseShare);
      this.observePools(result, r.pools);
      this.observeDbPools(result, r.dbPools);
    }
    for (const [metric, value] of this.state.active) {
      result.observe(this.obs(`${PREFIX}warning.active`), value, { [`${PREFIX}warning.metric`]: metric });
    }
    for (const v of this.state.verdicts()) {
      result.observe(this.obs(`${PREFIX}verdicts`), 1, {
        [`${PREFIX}verdict.id`]: v.id,
        [`${PREFIX}verdict.severity`]: v.severity,
      });
    }
    result.observe(this.obs(`${PREFIX}self.time`), selfTime().totalMs * MS);
    const score = this.opts.score?.();
    if (typeof score === 'number' && Number.isFinite(score)) result.observe(this.obs(`${PREFIX}score`), score);
  }

  private observePools(result: BatchObservableResult, pools: readonly PoolOriginReading[]): void {
    const rows = capRows(
      pools,
      this.opts.maxOrigins,
      (p) => p.origin,
      (p) => p.connected + p.pending,
      ['connected', 'free', 'pending', 'queued', 'running', 'size'],
    );
    for (const { key, row } of rows) {
      const attrs = originAttributes(key);
      result.observe(this.obs('http.client.open_connections'), Math.max(0, row.connected - row.free), {
        ...attrs,
        'http.connection.state': 'active',
      });
      result.observe(this.obs('http.client.open_connections'), row.free, { ...attrs, 'http.connection.state': 'idle' });
      result.observe(this.obs('http.client.active_requests'), row.running, attrs);
      result.observe(this.obs(`${PREFIX}http.client.queued_requests`), row.queued, attrs);
    }
  }

  private observeDbPools(result: BatchObservableResult, pools: readonly DbPoolReading[]): void {
    const rows = capRows(
      pools,
      this.opts.maxDbPools,
      (p) => p.name,
      (p) => p.size,
      ['max', 'size', 'idle', 'used', 'pending', 'timeouts'],
    );
    // Wait times are not summed into `_other`: it shows the largest folded pool's wait.
    for (const { key, row } of rows) {
      const pool = { 'db.client.connection.pool.name': key };
      result.observe(this.obs('db.client.connection.count'), row.idle, {
        ...pool,
        'db.client.connection.state': 'idle',
      });
      result.observe(this.obs('db.client.connection.count'), row.used, {
        ...pool,
        'db.client.connection.state': 'used',
      });
      result.observe(this.obs('db.client.connection.max'), row.max, pool);
      result.observe(this.obs('db.client.connection.pending_requests'), row.pending, pool);
      result.observe(this.obs('db.client.connection.timeouts'), row.timeouts, pool);
      result.observe(this.obs(`${PREFIX}db.client.connection.wait_time.max`), row.waitMsMax * MS, pool);
    }
  }
}
