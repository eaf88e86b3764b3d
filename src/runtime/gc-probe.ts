/**
 * GC pauses by kind from PerformanceObserver('gc'). Every entry of each batch
 * is kept (a batch often holds several minor GCs and a major one); read()
 * drains what was collected since the previous read.
 *
 * What observing costs depends on Node: up to Node 24, Node builds every gc
 * entry with deprecated accessor fields (DEP0152: a Map, two wrapper
 * functions per field), several KiB per GC of which ~4 KiB outlive the next
 * scavenge. Under load V8 then grows the young generation towards its
 * maximum and promotes into the old one: a loaded node:http hello world on
 * Node 24 holds +7 MiB of heap after 6 s and +20 MiB after 40 s with an
 * empty gc observer alone; Node 26 builds plain entries and shows none of it.
 * v8.GCProfiler is no way around it: a stopped profiler keeps recording
 * every GC until its object is collected, which for one that lived a second
 * is the next full GC. Hence the preload observes only once GC readings are
 * used (RuntimeAgentOptions.gcReadings).
 */
import type { PerformanceEntry } from 'node:perf_hooks';
import type { GcKind, GcReading } from './runtime-readings';

/** Bounds memory when reads stop (e.g. a stalled timer): the share still counts every pause. */
const MAX_KEPT_PAUSES = 10_000;

function kindOf(entry: PerformanceEntry, constants: typeof import('node:perf_hooks').constants): GcKind {
  const flag = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  switch (flag) {
    case constants.NODE_PERFORMANCE_GC_MAJOR:
      return 'major';
    case constants.NODE_PERFORMANCE_GC_INCREMENTAL:
      return 'incremental';
    case constants.NODE_PERFORMANCE_GC_WEAKCB:
      return 'weakcb';
    default:
      return 'minor';
  }
}

export class GcProbe {
  private observer: import('node:perf_hooks').PerformanceObserver | undefined;
  private pauses: GcReading['pauses'] = [];
  private pausedMs = 0;
  /** Date.now() at enable(), until the first read: that interval was observed only from then on. */
  private since = 0;

  enable(): void {
    if (this.observer) return;
    // Loaded here, not at import: perf_hooks costs ~2 ms of the preload's start-up.
    const { PerformanceObserver, constants } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.pausedMs += entry.duration;
        if (this.pauses.length < MAX_KEPT_PAUSES)
          this.pauses.push({ kind: kindOf(entry, constants), durationMs: entry.duration });
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
    this.since = Date.now();
  }

  disable(): void {
    this.observer?.disconnect();
    this.observer = undefined;
    this.pauses = [];
    this.pausedMs = 0;
  }

  get enabled(): boolean {
    return this.observer !== undefined;
  }

  read(intervalMs: number): GcReading {
    const observedMs = this.since ? Math.min(intervalMs, Math.max(1, Date.now() - this.since)) : intervalMs;
    this.since = 0;
    const reading: GcReading = {
      pauses: this.pauses,
      pauseShare: observedMs > 0 ? Math.min(1, this.pausedMs / observedMs) : 0,
    };
    this.pauses = [];
    this.pausedMs = 0;
    return reading;
  }
}
