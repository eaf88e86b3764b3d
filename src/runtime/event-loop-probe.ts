/**
 * Event-loop delay (perf_hooks.monitorEventLoopDelay) and utilization
 * (performance.eventLoopUtilization), both per interval: each read() resets
 * the histogram and diffs utilization against the previous read.
 */
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import type { EventLoopReading } from './runtime-readings';

const NS_PER_MS = 1e6;

export class EventLoopProbe {
  private histogram: IntervalHistogram | undefined;
  private lastElu: EventLoopUtilization | undefined;

  /** @param resolutionMs sampling period of the delay timer; smaller is finer and costs more wake-ups. */
  constructor(private readonly resolutionMs = 10) {}

  enable(): void {
    if (this.histogram) return;
    // Loaded here, not at import: perf_hooks costs ~2 ms of the preload's start-up.
    const { monitorEventLoopDelay, performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    // The histogram's sampling timer is native and unref'd: it never keeps the process alive.
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
    this.lastElu = performance.eventLoopUtilization();
  }

  disable(): void {
    this.histogram?.disable();
    this.histogram = undefined;
    this.lastElu = undefined;
  }

  get enabled(): boolean {
    return this.histogram !== undefined;
  }

  read(): EventLoopReading {
    const h = this.histogram;
    const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    const now = performance.eventLoopUtilization();
    const delta = this.lastElu ? performance.eventLoopUtilization(now, this.lastElu) : now;
    this.lastElu = now;
    // An empty histogram (no sample yet) reports min as 2^63; show zeros instead.
    const empty = !h || h.count === 0;
    // Each sample is the whole time between two runs of the sampling timer,
    // so an idle loop records the resolution itself: subtract it to get the delay.
    const ms = (ns: number) => (empty || !Number.isFinite(ns) ? 0 : Math.max(0, ns / NS_PER_MS - this.resolutionMs));
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
    // Node drops the first sample after a reset: a stall that starts within one
    // resolution period after this read is lost from the delay (not from the
    // utilization). A JS-timer sampler without that gap costs 2.5x the CPU.
    h?.reset();
    return reading;
  }
}
