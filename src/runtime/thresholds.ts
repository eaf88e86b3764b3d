/**
 * Threshold checks over each Readings: event-loop delay p99, event-loop
 * utilization and heap usage against the `nodejs` config. A breach raises a
 * `performance-warning` at most once per `warningCooldown` per metric (a
 * lasting breach repeats it with the same `since`); when the metric comes
 * back under its threshold, one `performance-recovered` closes it.
 */
import type { NodejsConfig } from '../config/sections/nodejs';
import { CPU_STARVED_SHARE, type CpuWaitBounds } from './cpu-wait';
import type { PerformanceWarning, Readings } from './runtime-readings';

export type ThresholdConfig = Pick<
  NodejsConfig,
  'maxEventLoopDelay' | 'maxEventLoopUtilization' | 'maxHeapUsage' | 'warningCooldown'
>;

export interface PerformanceRecovery extends PerformanceWarning {
  /** Epoch ms when the metric came back under its threshold. */
  recoveredAt: number;
}

interface Metric {
  name: string;
  label: string;
  unit: string;
  value: (r: Readings) => number;
  threshold: (c: ThresholdConfig) => number;
  /** Far enough over the threshold to call critical. */
  critical: (value: number, threshold: number) => boolean;
  /** What else the warning says of the breach's cause. */
  cause?: (r: Readings) => Pick<PerformanceWarning, 'cpuWait'> & { note: string };
}

/**
 * The p99 the app is answerable for: titan-perf's own turns (loading its
 * SDK, exporting) left out when the probe could match them; readings built
 * by hand have only the p99.
 */
export function appDelayP99(r: Readings): number {
  return r.eventLoop.appP99 ?? r.eventLoop.p99;
}

/**
 * How much of the app's slowest turns (those at or above its p99) the main
 * thread may have spent waiting for a CPU, when that can be half of them:
 * then other processes or the container's CPU limit may have made the p99,
 * not the app's code. The kernel counts the wait per interval, not per turn,
 * so the wait is bounded, not located.
 */
export function delayCpuWait(r: Readings): CpuWaitBounds | undefined {
  const w = r.eventLoop.cpuWait;
  if (!w?.slowTurnsMs) return undefined;
  const maxMs = Math.min(w.waitedMs, w.slowTurnsMs);
  if (maxMs < w.slowTurnsMs * CPU_STARVED_SHARE) return undefined;
  // Time outside those turns can have held the rest of the wait.
  const minMs = Math.max(0, maxMs - Math.max(0, r.intervalMs - w.slowTurnsMs));
  return { minMs: Math.round(minMs * 10) / 10, maxMs: Math.round(maxMs * 10) / 10 };
}

/** Old-generation use, 0..1; readings without it (built by hand) fall back to used / heap limit. */
export function heapUsage(r: Readings): number {
  const old = r.heap.oldGeneration;
  if (old && old.limit > 0) return old.used / old.limit;
  return r.heap.limit > 0 ? r.heap.used / r.heap.limit : 0;
}

export const METRICS: readonly Metric[] = [
  {
    name: 'eventLoop.delay.p99',
    label: 'event-loop delay p99',
    unit: 'ms',
    value: (r) => appDelayP99(r),
    threshold: (c) => c.maxEventLoopDelay,
    critical: (v, t) => v >= t * 10,
    cause: (r) => {
      const cpuWait = delayCpuWait(r);
      const w = r.eventLoop.cpuWait;
      if (!cpuWait || !w?.slowTurnsMs) return { note: '' };
      return {
        cpuWait,
        note: `; the main thread may have waited up to ${cpuWait.maxMs} ms of its ${w.slowTurns} slowest turns' ${w.slowTurnsMs} ms for a CPU (other processes or the container's CPU limit), so the machine may have made this delay rather than the app's code`,
      };
    },
  },
  {
    name: 'eventLoop.utilization',
    label: 'event-loop utilization',
    unit: '',
    value: (r) => r.eventLoop.utilization,
    threshold: (c) => c.maxEventLoopUtilization,
    critical: (v) => v >= 0.99,
  },
  {
    name: 'heap.usage',
    // The old generation against its own limit: V8's heap limit also counts
    // the young generation, which a small heap never fills (see old-generation.ts).
    label: 'old generation used / its limit',
    unit: '',
    value: (r) => heapUsage(r),
    threshold: (c) => c.maxHeapUsage,
    // V8 aborts after four mark-compacts in a row that leave the old generation
    // at 80% of its limit or more while the app gets under 40% of the time
    // (Heap::IsIneffectiveMarkCompact): from 0.8 the crash can come at any GC.
    critical: (v) => v >= 0.8,
  },
];

interface Breach {
  since: number;
  /** A warning went out for this breach, so its end gets a recovery. */
  warned: boolean;
  last: PerformanceWarning;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export class ThresholdMonitor {
  private readonly breaches = new Map<string, Breach>();
  /** Per metric, across breaches, so a flapping metric is rate-limited too. */
  private readonly lastWarnedAt = new Map<string, number>();

  constructor(
    private readonly config: ThresholdConfig,
    private readonly onWarning: (w: PerformanceWarning) => void,
    private readonly onRecovered: (r: PerformanceRecovery) => void,
  ) {}

  check(r: Readings): void {
    for (const m of METRICS) {
      const value = m.value(r);
      const threshold = m.threshold(this.config);
      const breach = this.breaches.get(m.name);
      if (value > threshold) {
        // The condition started within the interval this reading covers.
        const since = breach?.since ?? r.at - r.intervalMs;
        const severity = m.critical(value, threshold) ? 'critical' : 'warning';
        const shown = m.unit ? `${round(value)} ${m.unit}` : String(round(value));
        const cause = m.cause?.(r);
        const warning: PerformanceWarning = {
          metric: m.name,
          value: round(value),
          threshold,
          since,
          severity,
          ...(cause?.cpuWait && { cpuWait: cause.cpuWait }),
          message: `${m.label} is ${shown}, above the threshold of ${threshold}${m.unit ? ` ${m.unit}` : ''} since ${new Date(since).toISOString()}${cause?.note ?? ''}`,
        };
        const lastWarned = this.lastWarnedAt.get(m.name);
        const due = lastWarned === undefined || r.at - lastWarned >= this.config.warningCooldown;
        this.breaches.set(m.name, { since, warned: (breach?.warned ?? false) || due, last: warning });
        if (due) {
          this.lastWarnedAt.set(m.name, r.at);
          this.onWarning(warning);
        }
      } else if (breach) {
        this.breaches.delete(m.name);
        if (breach.warned) {
          this.onRecovered({
            ...breach.last,
            value: round(value),
            severity: 'info',
            recoveredAt: r.at,
            message: `${m.label} is back under ${threshold}${m.unit ? ` ${m.unit}` : ''} (now ${round(value)}), after a breach since ${new Date(breach.since).toISOString()}`,
          });
        }
      }
    }
  }

  /** The warnings whose condition still holds. */
  active(): PerformanceWarning[] {
    return [...this.breaches.values()].map((b) => b.last);
  }
}
