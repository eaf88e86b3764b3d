/**
 * Event-loop delay (perf_hooks.monitorEventLoopDelay) and utilization
 * (performance.eventLoopUtilization), both per interval: each read() resets
 * the histogram and diffs utilization against the previous read. Between
 * reads, takeStalls() finds the samples at or above a stall threshold that
 * were not reported yet, without resetting (a reset costs the timer mode a
 * sample, see read()).
 */
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import type { EventLoopReading } from './runtime-readings';

const NS_PER_MS = 1e6;
/** More stalls than this between two reads are counted, their durations are not. */
const MAX_STALLS_PER_READ = 1000;

export type EventLoopMode = 'per-iteration' | 'timer';

export interface EventLoopModeStatus {
  mode: EventLoopMode;
  /** Why this mode runs. */
  reason: string;
  /** How far a stall's measured duration can be off, ms. */
  precisionMs: number;
}

/**
 * `samplePerIteration` arrived in Node 24.19 and 26.5; older Nodes ignore the
 * option without an error and run the timer, so the version decides.
 */
export function perIterationSupported(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  if (major === 24) return minor >= 19;
  if (major === 26) return minor >= 5;
  return major >= 27;
}

export function eventLoopMode(resolutionMs: number, version = process.versions.node): EventLoopModeStatus {
  if (perIterationSupported(version)) {
    return {
      mode: 'per-iteration',
      reason: `Node ${version} samples once per loop turn (monitorEventLoopDelay samplePerIteration): exact turn lengths, no timer waking an idle process`,
      precisionMs: 0.1,
    };
  }
  return {
    mode: 'timer',
    reason: `Node ${version} has no per-iteration sampling (Node 24.19+ and 26.5+ do): a ${resolutionMs} ms timer samples the delay, so a stall is known to within ${resolutionMs / 2} ms`,
    precisionMs: resolutionMs / 2,
  };
}

export class EventLoopProbe {
  private histogram: IntervalHistogram | undefined;
  private lastElu: EventLoopUtilization | undefined;
  /** Raw samples (ns) already reported by takeStalls() since the last reset. */
  private reported = new Map<number, number>();
  readonly mode: EventLoopModeStatus;

  /** @param resolutionMs sampling period of the delay timer (timer mode); smaller is finer and costs more wake-ups. */
  constructor(private readonly resolutionMs = 10) {
    this.mode = eventLoopMode(resolutionMs);
  }

  enable(): void {
    if (this.histogram) return;
    // Loaded here, not at import: perf_hooks costs ~2 ms of the preload's start-up.
    const { monitorEventLoopDelay, performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    // Native and unref'd in both modes: it never keeps the process alive.
    this.histogram =
      this.mode.mode === 'per-iteration'
        ? monitorEventLoopDelay({ samplePerIteration: true } as Parameters<typeof monitorEventLoopDelay>[0])
        : monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
    this.lastElu = performance.eventLoopUtilization();
  }

  disable(): void {
    this.histogram?.disable();
    this.histogram = undefined;
    this.lastElu = undefined;
    this.reported.clear();
  }

  /**
   * Forgets the main module's load, which is start-up rather than a stall:
   * the timer mode records it as one late sample (per iteration, turns are
   * counted from the first loop turn on, so there is nothing to drop).
   */
  forgetStartup(): void {
    if (this.mode.mode === 'timer') {
      this.histogram?.reset();
      this.reported.clear();
    }
    if (this.lastElu) this.lastElu = performance.eventLoopUtilization();
  }

  get enabled(): boolean {
    return this.histogram !== undefined;
  }

  /**
   * A raw sample as a delay in ms. Per iteration, a sample is the length of
   * one turn. A timer sample is the whole time between two runs of the
   * timer: an idle loop records the resolution itself, and a stall of S ms
   * records between S and S + resolution, depending on where in the period
   * it began.
   */
  private delayMs(ns: number, forStall = false): number {
    if (!Number.isFinite(ns)) return 0;
    const ms = ns / NS_PER_MS;
    if (this.mode.mode === 'per-iteration') return ms;
    return Math.max(0, ms - (forStall ? this.resolutionMs / 2 : this.resolutionMs));
  }

  /** Durations (ms) of the stalls at or above `thresholdMs` recorded since the last call, longest first. */
  takeStalls(thresholdMs: number): number[] {
    const h = this.histogram;
    if (!h || h.count === 0 || this.delayMs(h.max, true) < thresholdMs) return [];
    const n = h.count;
    const found: number[] = [];
    // The i-th longest sample: HDR percentiles are exact to 3 significant digits.
    for (let i = 1; i <= Math.min(n, MAX_STALLS_PER_READ); i++) {
      // Aims between two ranks so that rounding inside HDR lands on the i-th longest, never its neighbour.
      const ns = h.percentile((100 * (n - i + 0.75)) / n);
      if (this.delayMs(ns, true) < thresholdMs) break;
      found.push(ns);
    }
    const fresh: number[] = [];
    const seen = new Map(this.reported);
    for (const ns of found) {
      const left = seen.get(ns) ?? 0;
      if (left > 0) seen.set(ns, left - 1);
      else {
        fresh.push(this.delayMs(ns, true));
        this.reported.set(ns, (this.reported.get(ns) ?? 0) + 1);
      }
    }
    return fresh;
  }

  read(): EventLoopReading {
    const h = this.histogram;
    const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    const now = performance.eventLoopUtilization();
    const delta = this.lastElu ? performance.eventLoopUtilization(now, this.lastElu) : now;
    this.lastElu = now;
    // An empty histogram (no sample yet) reports min as 2^63; show zeros instead.
    const empty = !h || h.count === 0;
    const ms = (ns: number) => (empty ? 0 : this.delayMs(ns));
    const reading: EventLoopReading = {
      min: ms(h?.min ?? 0),
      max: ms(h?.max ?? 0),
      mean: ms(h?.mean ?? 0),
      stddev: empty || !h ? 0 : h.stddev / NS_PER_MS,
      p50: ms(h?.percentile(50) ?? 0),
      p90: ms(h?.percentile(90) ?? 0),
      p99: ms(h?.percentile(99) ?? 0),
      utilization: Number.isFinite(delta.utilization) ? delta.utilization : 0,
      activeTime: now.active / 1000,
      idleTime: now.idle / 1000,
    };
    // In timer mode Node drops the first sample after a reset: a stall that
    // starts within one resolution period after this read is lost from the
    // delay (not from the utilization). A JS-timer sampler without that gap
    // costs 2.5x the CPU. Per iteration, nothing is lost.
    h?.reset();
    this.reported.clear();
    return reading;
  }
}
