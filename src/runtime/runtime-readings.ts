/**
 * The preload's readings: what the probes produce each interval, and what the
 * telemetry, the thresholds and the score consume. One shape for all three
 * so a new consumer never reaches into a probe.
 */

export interface EventLoopReading {
  /** Delay over the last interval, ms (perf_hooks.monitorEventLoopDelay). */
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  /** Utilization over the last interval, 0..1 (performance.eventLoopUtilization). */
  utilization: number;
  /** Cumulative active and idle time since start, s (for nodejs.eventloop.time). */
  activeTime: number;
  idleTime: number;
  /** Longest block of titan-perf's own work on the main thread in the interval, ms (0 when unknown). */
  selfLongest?: number;
  /** The p99 of the app's turns alone: titan-perf's own turns (loading its SDK, exporting) left out, ms. */
  appP99?: number;
  /** The app's stalls (at or above nodejs.maxEventLoopStall) found in the interval; titan-perf's own left out. */
  stalls?: IntervalStalls;
  /** How long the main thread waited for a CPU in the interval (Linux; see IntervalCpuWait). */
  cpuWait?: IntervalCpuWait;
}

/**
 * The main thread's wait for a CPU over an interval: runnable, not running,
 * because other processes or the container's CPU limit held the cores. A
 * delay p99 is made by the app's slowest turns (those at or above it); when
 * the wait could have been half of their time, the machine may have made
 * the p99 rather than the app's code. Where it is spent is not known (the
 * kernel counts it per thread, not per turn), so this is an upper bound.
 */
export interface IntervalCpuWait {
  waitedMs: number;
  /** The app's turns at or above its p99: set only when the wait could have been half of their time. */
  slowTurns?: number;
  /** Their total length, ms. */
  slowTurnsMs?: number;
}

export interface IntervalStalls {
  count: number;
  /** The longest of them, ms (0 without a stall). */
  longestMs: number;
  /** The longest one's main thread waited at least half of it for a CPU (see EventLoopStall.cpuWait). */
  longestCpuStarved: boolean;
}

export type GcKind = 'major' | 'minor' | 'incremental' | 'weakcb';

export interface GcReading {
  /** Every GC entry of the interval, not only the first of each batch. */
  pauses: { kind: GcKind; durationMs: number }[];
  /** Total pause time of the interval / interval length (the part GC was observed, when it began within it), 0..1. */
  pauseShare: number;
}

export interface HeapSpaceReading {
  space: string;
  size: number;
  used: number;
  available: number;
  physical: number;
}

export interface HeapReading {
  /** Bytes. */
  used: number;
  total: number;
  /** V8's heap_size_limit, bytes (old generation plus young generation). */
  limit: number;
  /**
   * The old generation: what V8 runs out of before it aborts with "heap out
   * of memory". `limit` from --max-old-space-size where set (see old-generation.ts).
   */
  oldGeneration: { used: number; limit: number };
  spaces: HeapSpaceReading[];
  rss: number;
  external: number;
}

export interface PoolOriginReading {
  /** `https://host:port`; capped in number, the rest folded into `_other`. */
  origin: string;
  connected: number;
  free: number;
  pending: number;
  queued: number;
  running: number;
  size: number;
}

export interface DbPoolReading {
  name: string;
  max: number;
  size: number;
  idle: number;
  used: number;
  pending: number;
  /** Acquire wait over the interval, ms. */
  waitMsP50: number;
  waitMsMax: number;
  /** Cumulative acquire timeouts. */
  timeouts: number;
}

export interface Readings {
  /** Epoch ms of the reading. */
  at: number;
  /** Interval the reading covers, ms. */
  intervalMs: number;
  eventLoop: EventLoopReading;
  gc: GcReading;
  heap: HeapReading;
  /** Outbound fetch pool per origin (empty when fetch is not tuned or unused). */
  pools: PoolOriginReading[];
  /** Database pools created through the library. */
  dbPools: DbPoolReading[];
}

export type Severity = 'info' | 'warning' | 'critical';

/** A `performance-warning` (and, with `recovered`, its matching recovery). */
export interface PerformanceWarning {
  metric: string;
  value: number;
  threshold: number;
  /** Epoch ms since the condition has held. */
  since: number;
  severity: Severity;
  message: string;
  /** Set for an event that happened once (a stall) rather than a condition that holds: no recovery follows. */
  instant?: boolean;
  /** A stall's length, ms. */
  durationMs?: number;
  /** Stalls of this metric since the previous warning, this one included (the cooldown holds back the rest). */
  count?: number;
  /** The main thread's stack during the stall, when the watchdog took one. */
  stack?: StallStack;
  /**
   * How long the main thread waited for a CPU during the stall (see
   * EventLoopStall.cpuWait), or, for the delay p99, within the app's slowest
   * turns when that can be half of them (see IntervalCpuWait).
   */
  cpuWait?: CpuWaitBounds;
}

/** One frame of the main thread's JavaScript stack, as the watchdog took it. */
export interface StackFrame {
  function: string;
  file: string;
  /** 1-based, like an Error stack. */
  line: number;
  column: number;
  /** Where the frame was in the code that ran, when file/line/column come from its source map. */
  generated?: { file: string; line: number; column: number };
}

/** What the watchdog thread saw of the main thread during a stall. */
export interface StallStack {
  /** Innermost first; empty when no JavaScript frame of the stall could be had. */
  frames: StackFrame[];
  /** `js`: paused inside the blocking JavaScript; `native`: the block was native code, see `note`. */
  kind: 'js' | 'native';
  note?: string;
  /** How long the main thread took to reach a safepoint for the pause, ms. */
  pauseLatencyMs: number;
  /** How long the main thread stood paused for the stack, ms. */
  pausedMs: number;
  /** Epoch ms when the stack was taken. */
  at: number;
  /** Frames were mapped through the app's source maps. */
  sourceMapped?: boolean;
}

/** One event-loop turn at or above nodejs.maxEventLoopStall. */
import type { CpuWaitBounds } from './cpu-wait';

export interface EventLoopStall {
  durationMs: number;
  /** Epoch ms when the stall began (best estimate, see startUncertaintyMs). */
  startedAt: number;
  /** The stall began within this many ms before startedAt. */
  startUncertaintyMs: number;
  threshold: number;
  /** titan-perf's own work caused it: counted apart, never warned. */
  self: boolean;
  stack?: StallStack;
  /**
   * How long the main thread waited for a CPU during the stall (other
   * processes or the container's CPU limit held it), ms, as bounds; Linux
   * only. At least half the stall: the machine caused it, not the app's code.
   */
  cpuWait?: CpuWaitBounds;
}

/** A heap/GC verdict from flag and container validation. */
export interface Verdict {
  id: string;
  severity: Severity;
  message: string;
  /**
   * What fixes it, when something does: the whole NODE_OPTIONS line to restart
   * with, or, where the command line sets the heap flag (NODE_OPTIONS cannot
   * override it), the flag to change there.
   */
  fix?: string;
}
