/**
 * What telemetry listens to: the runtime agent's events, kept as plain state
 * (latest readings, warnings now holding) so that instruments can be built,
 * dropped and rebuilt on another MeterProvider without losing anything.
 */
import type {
  EventLoopReading,
  EventLoopStall,
  PerformanceWarning,
  Readings,
  Verdict,
} from '../runtime/runtime-readings';

/** Readings kept between two collections; past this the oldest are dropped (bounded memory). */
const MAX_PENDING = 120;

/** The runtime agent as telemetry sees it (an EventEmitter emitting `readings` and warnings). */
export interface ReadingsSource {
  on(event: 'readings', listener: (r: Readings) => void): unknown;
  on(event: 'performance-warning' | 'performance-recovered', listener: (w: PerformanceWarning) => void): unknown;
  on(event: 'event-loop-stall', listener: (s: EventLoopStall) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: the shape of EventEmitter's own listener type, so an emitter fits as it is
  off?(event: string, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: the shape of EventEmitter's own listener type, so an emitter fits as it is
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
  getReadings?(): Readings | undefined | null;
  /** Heap/GC verdicts currently standing. */
  getVerdicts?(): readonly Verdict[];
  /** Starts observing GC pauses, for a source that observes them only once asked (the preload's agent). */
  watchGc?(): void;
}

export interface SourceHooks {
  /** Each new reading, for instruments recorded per event (GC pauses). */
  readings(r: Readings): void;
  warning(w: PerformanceWarning): void;
  /** Each stall, app's or titan-perf's own (every one, not only those warned). */
  stall?(s: EventLoopStall): void;
}

export class SourceState {
  latest: Readings | undefined;
  /** metric -> 1 while warned, 0 once recovered (kept so the series goes to 0 instead of vanishing). */
  readonly active = new Map<string, number>();
  private currentHooks: SourceHooks | undefined;
  /** Readings since the last collection, while instruments are attached. */
  private pending: Readings[] = [];
  /** Warnings raised before instruments were attached (telemetry starts late), counted once they are. */
  private earlyWarnings: PerformanceWarning[] = [];
  /** Stalls seen before instruments were attached: the counter starts with them. */
  private earlyStalls: EventLoopStall[] = [];
  private readonly onStall = (s: EventLoopStall) => {
    if (this.currentHooks?.stall) this.currentHooks.stall(s);
    else if (this.earlyStalls.length < MAX_PENDING) this.earlyStalls.push(s);
  };
  private readonly onReadings = (r: Readings) => {
    this.latest = r;
    if (this.currentHooks) {
      this.pending.push(r);
      if (this.pending.length > MAX_PENDING) this.pending.shift();
      this.currentHooks.readings(r);
    }
  };
  private readonly onWarning = (w: PerformanceWarning) => {
    // A stall is over when it is reported: no condition holds, nothing to recover from.
    if (!w.instant) this.active.set(w.metric, 1);
    if (this.currentHooks) this.currentHooks.warning(w);
    else if (this.earlyWarnings.length < MAX_PENDING) this.earlyWarnings.push(w);
  };
  private readonly onRecovered = (w: PerformanceWarning) => {
    this.active.set(w.metric, 0);
  };

  constructor(readonly source: ReadingsSource) {
    source.on('readings', this.onReadings);
    source.on('performance-warning', this.onWarning);
    source.on('performance-recovered', this.onRecovered);
    source.on('event-loop-stall', this.onStall);
  }

  get hooks(): SourceHooks | undefined {
    return this.currentHooks;
  }

  set hooks(hooks: SourceHooks | undefined) {
    this.currentHooks = hooks;
    if (!hooks) return;
    // Instruments report GC pauses from now on.
    this.source.watchGc?.();
    const early = this.earlyWarnings;
    this.earlyWarnings = [];
    for (const w of early) hooks.warning(w);
    if (hooks.stall) {
      const stalls = this.earlyStalls;
      this.earlyStalls = [];
      for (const s of stalls) hooks.stall(s);
    }
  }

  readings(): Readings | undefined {
    return this.latest ?? this.source.getReadings?.() ?? undefined;
  }

  /**
   * The event loop over every reading since the previous call, so that a
   * block between two exports is never lost when the sampling interval is
   * shorter than the export interval: min/max are exact, mean and utilization
   * weighted by interval length, stddev and percentiles those of the worst
   * interval. Without a new reading, the latest one again.
   */
  takeEventLoop(): EventLoopReading | undefined {
    const window = this.pending;
    this.pending = [];
    if (window.length <= 1) return (window[0] ?? this.readings())?.eventLoop;
    const loops = window.map((r) => r.eventLoop);
    const weights = window.map((r) => Math.max(1, r.intervalMs));
    const total = weights.reduce((a, b) => a + b, 0);
    const weighted = (pick: (e: EventLoopReading) => number) =>
      loops.reduce((a, e, i) => a + pick(e) * weights[i], 0) / total;
    const worst = (pick: (e: EventLoopReading) => number) => Math.max(...loops.map(pick));
    const last = loops[loops.length - 1];
    return {
      min: Math.min(...loops.map((e) => e.min)),
      max: worst((e) => e.max),
      mean: weighted((e) => e.mean),
      stddev: worst((e) => e.stddev),
      p50: worst((e) => e.p50),
      p90: worst((e) => e.p90),
      p99: worst((e) => e.p99),
      utilization: weighted((e) => e.utilization),
      activeTime: last.activeTime,
      idleTime: last.idleTime,
    };
  }

  verdicts(): readonly Verdict[] {
    return this.source.getVerdicts?.() ?? [];
  }

  detach(): void {
    const off = (this.source.off ?? this.source.removeListener)?.bind(this.source);
    if (!off) return;
    off('readings', this.onReadings);
    off('performance-warning', this.onWarning);
    off('performance-recovered', this.onRecovered);
    off('event-loop-stall', this.onStall);
  }
}
