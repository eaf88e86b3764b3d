/**
 * The in-process agent: composes the probes, the tuners, the heap/GC
 * verdicts and the thresholds. The preload starts one; NodeJSOptimizer wraps
 * the same class. Every interval it takes one Readings, checks thresholds and
 * emits:
 *   'readings'              Readings
 *   'performance-warning'   PerformanceWarning
 *   'performance-recovered' PerformanceRecovery
 *   'nodejs-optimized'      AgentStatus (once the tuning is in place)
 *   'event-loop-stall'      EventLoopStall (every stall, the app's and titan-perf's own)
 * It never emits 'error' (an EventEmitter 'error' without listener would
 * throw into the app); a listener that throws is reported once on stderr.
 */
import { EventEmitter } from 'node:events';
import type { ConfigIssue } from '../errors';
import { nodejsDefaults, type NodejsConfig } from '../config/sections/nodejs';
import { isMainThread, releaseAgentSlot } from './agent-slot';
import type { EventLoopModeStatus, EventLoopProbe } from './event-loop-probe';
import { CPU_STARVED_SHARE, CpuWait } from './cpu-wait';
import { FetchTuner } from './fetch-tuner';
import type { GcProbe } from './gc-probe';
import type { HeapProbe } from './heap-probe';
import type { HttpAgentTuner } from './http-agent-tuner';
import type { MemoryLimit } from './memory-limit';
import type {
  DbPoolReading,
  EventLoopStall,
  IntervalStalls,
  PerformanceWarning,
  Readings,
  Verdict,
} from './runtime-readings';
import { selfTime } from './self-time';
import type { StallWarnings } from './stall-warnings';
import type { PerformanceRecovery, ThresholdMonitor } from './thresholds';
import type { TunerStatus } from './tuner-status';
import type { Watchdog, WatchdogStatus } from './watchdog';

/** Stalls are looked for at least this often, so a warning follows a stall within a second whatever sampleInterval is. */
const STALL_SCAN_MS = 1000;

export interface EventLoopStatus extends Partial<EventLoopModeStatus> {
  /** nodejs.maxEventLoopStall, ms. */
  stallThreshold: number;
  /** The app's stalls since start. */
  stalls: number;
  /** titan-perf's own stalls since start (never warned). */
  selfStalls: number;
  /** titan-perf's own time on the main thread since start, ms. */
  selfTimeMs: number;
  /**
   * Delay samples left out since start because they were longer than the
   * loop's whole active time around them: Node sometimes counts the wait
   * for I/O into a per-iteration sample.
   */
  implausibleTurns: number;
  watchdog: WatchdogStatus;
}

export interface RuntimeAgentOptions {
  /** The `nodejs` section (resolved and validated); defaults to DEFAULT_PERFORMANCE_CONFIG.nodejs. */
  config?: NodejsConfig;
  /** What was wrong in the configuration and fell back to defaults, for status(). */
  configIssues?: ConfigIssue[];
  /**
   * Whether nodejs.maxOldSpaceSize was set by the user (profile, file,
   * TITAN_PERF_*, code) rather than left at its default: only a chosen size
   * that is not in effect is a warning. Default: it differs from the default.
   */
  heapSizeChosen?: boolean;
  /** cgroup filesystem root; default TITAN_PERF_CGROUP_ROOT or /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Sampling period of the event-loop delay histogram, ms (default 10). */
  eventLoopResolution?: number;
  /** Where faults go; default: once per kind on stderr. */
  onFault?: (what: string, err: unknown) => void;
  /**
   * When GC pauses are observed: 'always' (default), or 'on-demand' (the
   * preload): from the first use of GC readings on (watchGc(): telemetry
   * reporting through a MeterProvider, getReadings(), getPerformanceMetrics(),
   * a 'readings' listener). On Node 22 and 24 a gc PerformanceObserver costs
   * a loaded service ~7-20 MiB of V8 heap (see GcProbe), which a preload that
   * reports nowhere should not pay for readings nobody reads.
   */
  gcReadings?: 'always' | 'on-demand';
}

/** Marks a 'readings' listener that does not read GC pauses until it calls watchGc() (the preload's telemetry). */
export const NO_GC_NEEDED = Symbol.for('titan-perf.readings-without-gc');

export interface AgentStatus {
  running: boolean;
  node: string;
  pid: number;
  /** Worker threads get no preload agent; a RuntimeAgent built by hand reports where it runs. */
  thread: 'main' | 'worker';
  startedAt?: number;
  config: NodejsConfig;
  /** Every tuner's state: tuned, armed (waiting for first use), left alone or replaced, and why. */
  tuning: TunerStatus[];
  /** Names of what is tuned right now. */
  tuned: string[];
  leftAlone: { name: string; reason: string }[];
  verdicts: Verdict[];
  configIssues: ConfigIssue[];
  memory: { limitBytes: number; source: MemoryLimit['source']; file?: string; notes: string[]; heapLimitBytes: number };
  /** How the event loop is sampled and why, the stalls seen, and the watchdog's state. */
  eventLoop: EventLoopStatus;
}

export interface NodeRuntimeMetrics {
  at: number;
  /** The latest reading (undefined until the first interval has passed). */
  readings?: Readings;
  /** Warnings whose condition still holds. */
  activeWarnings: PerformanceWarning[];
  verdicts: Verdict[];
}

/** Marks every RuntimeAgent, whichever copy of titan-perf made it. */
const AGENT_BRAND = Symbol.for('titan-perf.runtime-agent');

/** An interval's stalls before any was seen: each reading starts from a fresh one. */
function noStalls(): IntervalStalls {
  return { count: 0, longestMs: 0, longestCpuStarved: false };
}

export class RuntimeAgent extends EventEmitter {
  /**
   * `getAgent() instanceof RuntimeAgent` holds whichever copy of titan-perf
   * made the agent: the preload's entry holds its own copy of this class (its
   * start path is one file), as does the zero-install bundle, beside the
   * package the app imports. Subclasses keep the ordinary test.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of instanceof, a subclass or this one
    if (this !== RuntimeAgent) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [AGENT_BRAND]?: true })[AGENT_BRAND] === true;
  }

  readonly config: NodejsConfig;
  private readonly configIssues: ConfigIssue[];
  private readonly heapSizeChosen: boolean;
  private readonly cgroupRoot?: string;
  private readonly fault: (what: string, err: unknown) => void;
  private readonly eventLoopResolution?: number;
  private readonly fetchTuner: FetchTuner;
  // Built on first use (the settle step, or the first reading): each file
  // loaded at start-up costs the preload ~0.4 ms of its 10 ms budget.
  private lazyProbes?: { eventLoop: EventLoopProbe; gc: GcProbe; heap: HeapProbe };
  // Apart from the others: it starts with the preload, they wait for the settle step.
  private lazyEventLoop?: EventLoopProbe;
  private lazyHttpTuner?: HttpAgentTuner;
  private lazyThresholds?: ThresholdMonitor;
  private lazyStallWarnings?: StallWarnings;
  private watchdog?: Watchdog;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastScanAt = 0;
  /** The app's stalls since the previous reading. */
  private intervalStalls: IntervalStalls = noStalls();
  /** The main thread's wait for a CPU between stall scans. */
  private readonly cpuWait = new CpuWait();
  /** A check-phase stall scan is queued (markBoundary()). */
  private boundaryPending = false;
  /** The main thread's total wait for a CPU at the previous reading, ns. */
  private readWaitNs: number | undefined;
  private lastScanPerf = 0;
  private scanDuePerf = 0;
  private selfStalls = 0;
  private rescanPending = false;
  private readonly dbPools = new Set<() => DbPoolReading>();
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Immediate | undefined;
  /** performance.now() of the previous reading. */
  private lastReadPerf = 0;
  /** performance.now() of the reading before the previous one. */
  private priorReadPerf = 0;
  private latest: Readings | undefined;
  private lastAt = 0;
  private startedAt: number | undefined;
  private memory: MemoryLimit | undefined;
  private cachedVerdicts: Verdict[] | undefined;
  private announced = false;
  private gcWanted: boolean;

  constructor(options: RuntimeAgentOptions = {}) {
    super();
    this.config = options.config ?? nodejsDefaults;
    this.configIssues = options.configIssues ?? [];
    this.heapSizeChosen = options.heapSizeChosen ?? this.config.maxOldSpaceSize !== nodejsDefaults.maxOldSpaceSize;
    this.cgroupRoot = options.cgroupRoot;
    // Loaded on the first fault only: one file less on the preload's start-up path.
    this.fault =
      options.onFault ?? ((what, err) => (require('./fault') as typeof import('./fault')).reportFault(what, err));
    this.eventLoopResolution = options.eventLoopResolution;
    this.fetchTuner = new FetchTuner(this.config.connectionPooling, this.fault);
    this.gcWanted = options.gcReadings !== 'on-demand';
    if (!this.gcWanted) {
      this.on('newListener', (event: string | symbol, listener: { [NO_GC_NEEDED]?: boolean }) => {
        if (event === 'readings' && !listener[NO_GC_NEEDED]) this.watchGc();
      });
    }
  }

  /** Observes GC pauses from now on (a no-op when they already are); see RuntimeAgentOptions.gcReadings. */
  watchGc(): void {
    if (this.gcWanted) return;
    this.gcWanted = true;
    if (this.running && this.lazyProbes?.heap.enabled) this.guard('GC probe', () => this.lazyProbes?.gc.enable());
  }

  private get eventLoopProbe(): EventLoopProbe {
    if (!this.lazyEventLoop) {
      const { EventLoopProbe } = require('./event-loop-probe') as typeof import('./event-loop-probe');
      this.lazyEventLoop = new EventLoopProbe(this.eventLoopResolution);
    }
    return this.lazyEventLoop;
  }

  private get probes(): { eventLoop: EventLoopProbe; gc: GcProbe; heap: HeapProbe } {
    if (!this.lazyProbes) {
      const { GcProbe } = require('./gc-probe') as typeof import('./gc-probe');
      const { HeapProbe } = require('./heap-probe') as typeof import('./heap-probe');
      this.lazyProbes = { eventLoop: this.eventLoopProbe, gc: new GcProbe(), heap: new HeapProbe() };
    }
    return this.lazyProbes;
  }

  private get stallWarnings(): StallWarnings {
    if (!this.lazyStallWarnings) {
      const { StallWarnings } = require('./stall-warnings') as typeof import('./stall-warnings');
      this.lazyStallWarnings = new StallWarnings(this.config.warningCooldown, (w) =>
        this.safeEmit('performance-warning', w),
      );
    }
    return this.lazyStallWarnings;
  }

  private get httpTuner(): HttpAgentTuner {
    if (!this.lazyHttpTuner) {
      const { HttpAgentTuner } = require('./http-agent-tuner') as typeof import('./http-agent-tuner');
      this.lazyHttpTuner = new HttpAgentTuner(this.config.connectionPooling, this.fault);
    }
    return this.lazyHttpTuner;
  }

  private get thresholds(): ThresholdMonitor {
    if (!this.lazyThresholds) {
      const { ThresholdMonitor } = require('./thresholds') as typeof import('./thresholds');
      this.lazyThresholds = new ThresholdMonitor(
        this.config,
        (w) => this.safeEmit('performance-warning', w),
        (r: PerformanceRecovery) => this.safeEmit('performance-recovered', r),
      );
    }
    return this.lazyThresholds;
  }

  /** Tunes the http agents the app has loaded so far (no-op when off or stopped). */
  private checkHttpAgents(): void {
    if (!this.running || !this.config.tuneHttpAgents) return;
    this.guard('http agent tuning', () => this.httpTuner.enable());
  }

  get running(): boolean {
    return this.startedAt !== undefined;
  }

  start(): this {
    if (this.running) return this;
    this.startedAt = Date.now();
    this.lastAt = this.startedAt;
    // Only what must precede the app's first line runs here (the fetch wrapper);
    // the probes load node:perf_hooks and node:v8 and wait for the settle step.
    if (this.config.tuneFetch) this.guard('fetch tuning', () => this.fetchTuner.enable());
    // The event loop is watched from before the first loop turn, so that a stall in
    // the app's first timer (before any I/O turn) is seen too. Per iteration, the
    // histogram is created in a nextTick, which runs once the main module has been
    // evaluated (CommonJS): created here and restarted there, it cost the preload a
    // reset of its buckets (~1.7 ms of CPU) for samples that were dropped anyway.
    // The timer mode starts here (see restartAfterMain).
    const probe = this.eventLoopProbe;
    if (probe.mode.mode === 'timer') this.guard('event-loop probe', () => probe.enable());
    process.nextTick(() => {
      if (this.running) this.guard('event-loop probe', () => probe.restartAfterMain());
    });
    this.lastScanAt = Date.now();
    this.lastScanPerf = performance.now();
    this.scanDuePerf = this.lastScanPerf + this.scanPeriod;
    this.stallTimer = setTimeout(() => this.scanStalls('due'), this.scanPeriod).unref();
    // A timeout refreshed after each tick, unref'd: ticks never overlap and never keep the process alive.
    this.timer = setTimeout(() => this.tick(), this.config.sampleInterval).unref();
    // After the main module has run: start the probes, tune the http agents it
    // loaded, read the cgroup files, announce. Kept out of start() so the
    // preload stays within its start-up budget.
    this.settle = setImmediate(() => this.guard('starting the probes', () => this.settleNow())).unref();
    return this;
  }

  private get scanPeriod(): number {
    return Math.min(STALL_SCAN_MS, this.config.sampleInterval);
  }

  /**
   * Runs once: from the immediate, or from the first tick if a long main
   * module let the timer fire first. The heap/GC verdicts (cgroup files,
   * Node's flag list: ~6 ms of CPU) are not computed here but by whoever asks
   * first (status(), telemetry, an announce with a listener), so a short job
   * that ends before anyone asks never pays for them.
   */
  private settleNow(): void {
    // Starting the probes and tuning the agents is titan-perf's own time on the main thread.
    selfTime().measure(() => this.settleSteps());
  }

  private settleSteps(): void {
    if (this.settle) clearImmediate(this.settle);
    this.settle = undefined;
    // Loading the app's main module is start-up, not a stall of a serving loop.
    this.guard('event-loop probe', () => {
      const probe = this.lazyEventLoop;
      probe?.forgetStartup();
      // From the first tick (a long main module), the first turn's sample comes at this turn's check phase.
      if (probe && !probe.correctFirstTurn())
        setImmediate(() => this.guard('event-loop probe', () => probe.correctFirstTurn())).unref();
    });
    this.lastScanAt = Date.now();
    this.lastScanPerf = performance.now();
    this.cpuWait.read(this.lastScanPerf);
    this.readWaitNs = this.cpuWait.latestNs();
    this.startWatchdog();
    this.enableProbes();
    this.checkHttpAgents();
    this.announce();
  }

  private enableProbes(): void {
    const { heap, eventLoop, gc } = this.probes;
    if (heap.enabled) return;
    heap.enable();
    this.guard('event-loop probe', () => eventLoop.enable());
    if (this.gcWanted) this.guard('GC probe', () => gc.enable());
  }

  private startWatchdog(): void {
    if (!this.config.stallCapture.enabled || this.watchdog || !isMainThread()) return;
    this.guard('the stall watchdog', () => {
      const { Watchdog } = require('./watchdog') as typeof import('./watchdog');
      // The ping is answered in the poll phase, before the stalled turn's sample is recorded (at the check phase).
      this.watchdog = new Watchdog(this.config.stallCapture, () => this.rescanAfterTurn(Date.now()), this.fault);
      // Starting a thread is titan-perf's own time on the main thread.
      selfTime().measure(() => this.watchdog?.start());
    });
  }

  /**
   * Reports the stalls recorded since the previous scan. `endedAt` (epoch
   * ms): a stall is known to have ended then (the watchdog saw the main thread
   * turn again, or this scan's timer ran late behind it).
   */
  private rescanAfterTurn(endedAt: number): void {
    if (this.rescanPending) return;
    this.rescanPending = true;
    const rescan = () => {
      this.rescanPending = false;
      this.scanStalls('rescan', endedAt);
    };
    // Per iteration, the stalled turn's sample is recorded before the check phase;
    // the timer mode records it when its own (overdue) timer runs, in the next timers phase.
    if (this.lazyEventLoop?.mode.mode === 'timer') setTimeout(rescan, 1).unref();
    else setImmediate(rescan).unref();
  }

  /**
   * `due`: the scan timer. `rescan`: a stall is known to have ended at
   * `endedAt`. `reading`: inside a reading (its own time is the reading's).
   * `boundary`: the check phase of a due scan's turn (see markBoundary()).
   */
  private scanStalls(kind: 'due' | 'rescan' | 'reading' | 'boundary', endedAt?: number): void {
    const late = kind === 'rescan';
    const inTick = kind === 'reading';
    const start = performance.now();
    try {
      const probe = this.lazyEventLoop;
      if (!probe?.enabled) return;
      // The watchdog's own work on the main thread must be on record before stalls are judged.
      this.watchdog?.drain();
      const found = probe.takeStalls(this.config.maxEventLoopStall, selfTime().blocksSince(this.priorReadPerf));
      const now = Date.now();
      const perfNow = performance.now();
      // At every scan, stalls or not: the reading before a stall bounds the wait during it.
      this.cpuWait.read(perfNow);
      // A scan that ran late by about the stall's length waited for it: the stall ended now.
      const lateness = perfNow - this.scanDuePerf;
      if (kind === 'due' && lateness >= this.config.maxEventLoopStall) {
        // The timer ran right behind a stall, maybe in the same turn, whose sample
        // is recorded only at the check phase: look again then.
        this.rescanAfterTurn(now);
      }
      for (const { ms: durationMs, holdsOwn } of found) {
        // Only a lone stall can be the one that held this scan up; of several, which one did is unknown.
        const endsNow = found.length === 1 && (late || lateness >= durationMs * 0.5);
        const end = endsNow ? (endedAt ?? now) : now;
        const endPerf = endsNow ? perfNow - (now - end) : undefined;
        const cpuWait = this.cpuWait.bounds(perfNow - durationMs, durationMs);
        // Work of titan-perf's that the machine held up for most of the stall did not cause it.
        const starved = cpuWait !== undefined && cpuWait.minMs >= durationMs * CPU_STARVED_SHARE;
        // Too long for the app's active time, and not one the machine may have made half of: titan-perf's
        // own block of half of it is in it (a throttled stall of titan-perf's stretched work stays the machine's).
        const ownInIt = holdsOwn && !(cpuWait && cpuWait.maxMs >= durationMs * CPU_STARVED_SHARE);
        const self = !starved && selfTime().claim(this.lastScanPerf - durationMs, durationMs, endPerf, ownInIt);
        const window = Math.max(0, now - this.lastScanAt);
        let startedAt = end - durationMs;
        // A stall that ran in the same timers phase as the previous scan was recorded only after
        // it: it may have ended as early as one window before that scan.
        let startUncertaintyMs = endsNow ? probe.mode.precisionMs + 2 : window + this.scanPeriod;
        const stack = this.watchdog?.take(now - durationMs - window - 50, now);
        if (stack && !endsNow) {
          // The watchdog saw the stall under way: it began no later than its capture.
          startedAt = Math.min(startedAt, stack.at - this.config.stallCapture.threshold);
          startUncertaintyMs = Math.min(startUncertaintyMs, 60);
        }
        const stall: EventLoopStall = {
          durationMs: Math.round(durationMs * 100) / 100,
          startedAt: Math.round(startedAt),
          startUncertaintyMs: Math.round(startUncertaintyMs),
          threshold: this.config.maxEventLoopStall,
          self,
          stack,
        };
        if (cpuWait) stall.cpuWait = cpuWait;
        if (self) this.selfStalls++;
        this.safeEmit('event-loop-stall', stall);
        if (!self) {
          const seen = this.intervalStalls;
          seen.count++;
          if (stall.durationMs > seen.longestMs) {
            seen.longestMs = stall.durationMs;
            seen.longestCpuStarved = starved;
          }
          this.stallWarnings.add(stall, now);
          if (stack) this.reportStack(stall);
        }
      }
      this.lastScanAt = now;
      this.lastScanPerf = perfNow;
    } catch (err) {
      this.fault('looking for event-loop stalls', err);
    } finally {
      if (!inTick) selfTime().add(start, performance.now());
      if (this.stallTimer && (kind === 'due' || kind === 'reading')) {
        this.scanDuePerf = performance.now() + this.scanPeriod;
        this.stallTimer.refresh();
      }
      if (kind === 'due') this.markBoundary();
    }
  }

  /**
   * Per iteration, the samples recorded from here on are turns that begin
   * after this turn's sample: a stall scan in this turn's check phase takes
   * the rest of this turn's, and from then on no turn can be longer than the
   * loop's activity since (see EventLoopProbe.markBoundary). Without it, a
   * sample that Node stretched with the wait for I/O passed as a stall when
   * the two readings before held titan-perf's SDK load. Kept ref'd: an
   * unref'd immediate can wait for the next turn's I/O first; this one runs
   * in this turn's check phase, so it never holds the process beyond it.
   */
  private markBoundary(): void {
    const probe = this.lazyEventLoop;
    if (probe?.mode.mode !== 'per-iteration' || this.boundaryPending) return;
    this.boundaryPending = true;
    const scanEnd = performance.now();
    setImmediate(() => {
      this.boundaryPending = false;
      this.scanStalls('boundary');
      // Immediates of the app's that ran before this one are in the next turn's sample: allowed for.
      this.guard('event-loop probe', () => probe.markBoundary(performance.now() - scanEnd));
    });
  }

  private reportStack(stall: EventLoopStall): void {
    this.guard('reporting a stall stack', () => {
      const { reportStallStack } = require('./stall-report') as typeof import('./stall-report');
      reportStallStack(stall);
    });
  }

  stop(): this {
    if (!this.running) return this;
    clearTimeout(this.timer);
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.watchdog?.stop();
    this.watchdog = undefined;
    if (this.settle) clearImmediate(this.settle);
    this.timer = undefined;
    this.settle = undefined;
    if (this.lazyEventLoop) this.guard('event-loop probe', () => this.lazyEventLoop?.disable());
    if (this.lazyProbes) {
      const { heap, gc } = this.lazyProbes;
      this.guard('GC probe', () => gc.disable());
      heap.disable();
    }
    this.guard('fetch restore', () => this.fetchTuner.disable());
    if (this.lazyHttpTuner) this.guard('http agent restore', () => this.lazyHttpTuner?.disable());
    this.startedAt = undefined;
    this.announced = false;
    releaseAgentSlot(this);
    return this;
  }

  /** The latest Readings, or undefined before the first interval has passed. */
  getReadings(): Readings | undefined {
    this.watchGc();
    return this.latest;
  }

  /** Takes a reading now (also what each interval does). */
  sample(): Readings {
    if (this.running) this.enableProbes();
    // Before the reading resets the histogram: no stall is lost between two scans, and
    // the reading counts every stall up to now.
    if (this.running) this.scanStalls('reading');
    const now = Date.now();
    const intervalMs = Math.max(1, now - this.lastAt);
    this.lastAt = now;
    this.checkHttpAgents();
    const dbPools: DbPoolReading[] = [];
    for (const source of this.dbPools) {
      try {
        dbPools.push(source());
      } catch (err) {
        this.fault('a database pool reading', err);
      }
    }
    // titan-perf's own work since the previous reading, left out of the app's p99.
    const own = selfTime().blocksSince(this.lastReadPerf);
    const ownRecent = selfTime().blocksSince(this.priorReadPerf);
    this.priorReadPerf = this.lastReadPerf;
    this.lastReadPerf = performance.now();
    // The main thread's wait for a CPU since the previous reading: what the machine may have added to the p99.
    // The stall scan above has just read it; read here only when it did not run.
    if (!this.running || !this.lazyEventLoop?.enabled) this.cpuWait.read(this.lastReadPerf);
    const waitNs = this.cpuWait.latestNs();
    const waitedNs = waitNs !== undefined && this.readWaitNs !== undefined ? waitNs - this.readWaitNs : undefined;
    this.readWaitNs = waitNs;
    const readings: Readings = {
      at: now,
      intervalMs,
      eventLoop: {
        ...this.probes.eventLoop.read(own, ownRecent, waitedNs === undefined ? undefined : waitedNs / 1e6),
        stalls: this.intervalStalls,
      },
      gc: this.probes.gc.read(intervalMs),
      heap: this.probes.heap.read(),
      pools: this.fetchTuner.pools(),
      dbPools,
    };
    this.intervalStalls = noStalls();
    this.latest = readings;
    return readings;
  }

  private tick(): void {
    // Taking a reading is titan-perf's own time on the main thread.
    selfTime().measure(() => this.takeReading());
  }

  private takeReading(): void {
    const start = performance.now();
    try {
      if (this.settle) this.settleNow();
      const readings = this.sample();
      readings.eventLoop.selfLongest = selfTime().longestSince(start - readings.intervalMs);
      this.thresholds.check(readings);
      this.safeEmit('readings', readings);
    } catch (err) {
      this.fault('taking a reading', err);
    } finally {
      if (this.timer) this.timer.refresh();
    }
  }

  /** Adds a database pool to the readings; returns its removal. */
  addDbPool(read: () => DbPoolReading): () => void {
    this.dbPools.add(read);
    return () => this.dbPools.delete(read);
  }

  verdicts(): Verdict[] {
    if (this.cachedVerdicts) return this.cachedVerdicts;
    // Reading the cgroup files and Node's flag list (6-13 ms once) is titan-perf's own time, whoever asks.
    return selfTime().measure(() => this.computeVerdicts());
  }

  private computeVerdicts(): Verdict[] {
    try {
      const { readMemoryLimit } = require('./memory-limit') as typeof import('./memory-limit');
      const { heapVerdicts } = require('./heap-verdicts') as typeof import('./heap-verdicts');
      const { getHeapStatistics } = require('node:v8') as typeof import('node:v8');
      this.memory = readMemoryLimit({ root: this.cgroupRoot });
      this.cachedVerdicts = heapVerdicts({
        limit: this.memory,
        heapLimit: getHeapStatistics().heap_size_limit,
        execArgv: process.execArgv,
        nodeOptions: process.env.NODE_OPTIONS ?? '',
        maxOldSpaceSize: this.config.maxOldSpaceSize,
        maxOldSpaceSizeChosen: this.heapSizeChosen,
        incrementalMarking: this.config.incrementalMarking,
        hasPercentageFlag: process.allowedNodeEnvironmentFlags.has('--max-old-space-size-percentage'),
      });
    } catch (err) {
      this.fault('heap/GC validation', err);
      this.cachedVerdicts = [];
    }
    return this.cachedVerdicts;
  }

  status(): AgentStatus {
    // Building the status (tuning what the app loaded since, the undici check) is titan-perf's own time.
    return selfTime().measure(() => this.buildStatus());
  }

  private buildStatus(): AgentStatus {
    // Report the truth as of now: an http module the app loaded since the last tick gets tuned first.
    this.checkHttpAgents();
    const npmUndici = this.config.tuneFetch
      ? this.guardValue('npm undici status', () => this.fetchTuner.npmUndiciStatus())
      : undefined;
    const tuning: TunerStatus[] = [
      this.config.tuneFetch
        ? this.fetchTuner.status()
        : { name: 'fetch', state: 'off', reason: 'nodejs.tuneFetch is false' },
      ...(npmUndici ? [npmUndici] : []),
      ...(this.config.tuneHttpAgents
        ? this.httpTuner.status()
        : ['http.globalAgent', 'https.globalAgent'].map(
            (name): TunerStatus => ({ name, state: 'off', reason: 'nodejs.tuneHttpAgents is false' }),
          )),
    ];
    const verdicts = this.verdicts();
    const memory = this.memory;
    return {
      running: this.running,
      node: process.version,
      pid: process.pid,
      thread: isMainThread() ? 'main' : 'worker',
      startedAt: this.startedAt,
      config: this.config,
      tuning,
      tuned: tuning.filter((t) => t.state === 'tuned').map((t) => t.name),
      leftAlone: tuning
        .filter((t) => t.state === 'left-alone' || t.state === 'replaced')
        .map((t) => ({ name: t.name, reason: t.reason ?? '' })),
      verdicts,
      configIssues: this.configIssues,
      memory: {
        limitBytes: memory?.bytes ?? 0,
        source: memory?.source ?? 'host',
        file: memory?.file,
        notes: memory?.notes ?? [],
        heapLimitBytes: (require('node:v8') as typeof import('node:v8')).getHeapStatistics().heap_size_limit,
      },
      eventLoop: {
        ...this.lazyEventLoop?.mode,
        stallThreshold: this.config.maxEventLoopStall,
        stalls: this.lazyStallWarnings?.count ?? 0,
        selfStalls: this.selfStalls,
        selfTimeMs: Math.round(selfTime().totalMs * 100) / 100,
        implausibleTurns: this.lazyEventLoop?.implausible ?? 0,
        watchdog: this.watchdog?.status() ?? {
          state: 'off',
          reason: this.config.stallCapture.enabled
            ? 'starts once the main module has run'
            : 'nodejs.stallCapture.enabled is false',
          stacksTaken: 0,
          stacksSkipped: 0,
        },
      },
    };
  }

  getPerformanceMetrics(): NodeRuntimeMetrics {
    this.watchGc();
    return {
      at: Date.now(),
      readings: this.latest,
      activeWarnings: this.thresholds.active(),
      verdicts: this.verdicts(),
    };
  }

  /** The tuned fetch Agent, once the first fetch installed it. */
  get fetchAgent(): unknown {
    return this.fetchTuner.agent;
  }

  private announce(): void {
    if (this.announced || !this.running) return;
    this.announced = true;
    // status() reads the cgroup files and computes the verdicts: only for someone who listens.
    if (this.listenerCount('nodejs-optimized') > 0) this.safeEmit('nodejs-optimized', this.status());
  }

  private safeEmit(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (err) {
      this.fault(`a '${event}' listener`, err);
    }
  }

  private guardValue<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.fault(what, err);
      return undefined;
    }
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fault(what, err);
    }
  }
}

Object.defineProperty(RuntimeAgent.prototype, AGENT_BRAND, { value: true });
