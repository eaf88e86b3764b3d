/**
 * What telemetry listens to: the runtime agent's events, kept as plain state
 * (latest readings, warnings now holding) so that instruments can be built,
 * dropped and rebuilt on another MeterProvider without losing anything.
 */
import type { PerformanceWarning, Readings, Verdict } from '../runtime/readings';

/** The runtime agent as telemetry sees it (an EventEmitter emitting `readings` and warnings). */
export interface ReadingsSource {
  on(event: 'readings', listener: (r: Readings) => void): unknown;
  on(event: 'performance-warning' | 'performance-recovered', listener: (w: PerformanceWarning) => void): unknown;
  off?(event: string, listener: (...args: never[]) => void): unknown;
  removeListener?(event: string, listener: (...args: never[]) => void): unknown;
  getReadings?(): Readings | undefined | null;
  /** Heap/GC verdicts currently standing. */
  getVerdicts?(): readonly Verdict[];
}

export interface SourceHooks {
  /** Each new reading, for instruments recorded per event (GC pauses). */
  readings(r: Readings): void;
  warning(w: PerformanceWarning): void;
}

export class SourceState {
  latest: Readings | undefined;
  /** metric -> 1 while warned, 0 once recovered (kept so the series goes to 0 instead of vanishing). */
  readonly active = new Map<string, number>();
  hooks: SourceHooks | undefined;
  private readonly onReadings = (r: Readings) => {
    this.latest = r;
    this.hooks?.readings(r);
  };
  private readonly onWarning = (w: PerformanceWarning) => {
    this.active.set(w.metric, 1);
    this.hooks?.warning(w);
  };
  private readonly onRecovered = (w: PerformanceWarning) => {
    this.active.set(w.metric, 0);
  };

  constructor(readonly source: ReadingsSource) {
    source.on('readings', this.onReadings);
    source.on('performance-warning', this.onWarning);
    source.on('performance-recovered', this.onRecovered);
  }

  readings(): Readings | undefined {
    return this.latest ?? this.source.getReadings?.() ?? undefined;
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
  }
}
