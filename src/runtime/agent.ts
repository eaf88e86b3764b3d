/**
 * The in-process agent: composes the probes, the tuners, the heap/GC
 * verdicts and the thresholds. The preload starts one; NodeJSOptimizer wraps
 * the same class. Every interval it takes one Readings, checks thresholds and
 * emits:
 *   'readings'              Readings
 *   'performance-warning'   PerformanceWarning
 *   'performance-recovered' PerformanceRecovery
 *   'nodejs-optimized'      AgentStatus (once the tuning is in place)
 * It never emits 'error' (an EventEmitter 'error' without listener would
 * throw into the app); a listener that throws is reported once on stderr.
 */
import { EventEmitter } from 'node:events';
import type { ConfigIssue } from '../errors';
import { nodejsDefaults, type NodejsConfig } from '../config/sections/nodejs';
import { isMainThread, releaseAgentSlot } from './agent-slot';
import type { EventLoopProbe } from './event-loop-probe';
import { FetchTuner } from './fetch-tuner';
import type { GcProbe } from './gc-probe';
import type { HeapProbe } from './heap-probe';
import type { HttpAgentTuner } from './http-agent-tuner';
import type { MemoryLimit } from './memory-limit';
import type { DbPoolReading, PerformanceWarning, Readings, Verdict } from './runtime-readings';
import type { PerformanceRecovery, ThresholdMonitor } from './thresholds';
import type { TunerStatus } from './tuner-status';

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
}

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
}

export interface NodeRuntimeMetrics {
  at: number;
  /** The latest reading (undefined until the first interval has passed). */
  readings?: Readings;
  /** Warnings whose condition still holds. */
  activeWarnings: PerformanceWarning[];
  verdicts: Verdict[];
}

export class RuntimeAgent extends EventEmitter {
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
  private lazyHttpTuner?: HttpAgentTuner;
  private lazyThresholds?: ThresholdMonitor;
  private readonly dbPools = new Set<() => DbPoolReading>();
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Immediate | undefined;
  private latest: Readings | undefined;
  private lastAt = 0;
  private startedAt: number | undefined;
  private memory: MemoryLimit | undefined;
  private cachedVerdicts: Verdict[] | undefined;
  private announced = false;

  constructor(options: RuntimeAgentOptions = {}) {
    super();
    this.config = options.config ?? nodejsDefaults;
    this.configIssues = options.configIssues ?? [];
    this.heapSizeChosen = options.heapSizeChosen ?? this.config.maxOldSpaceSize !== nodejsDefaults.maxOldSpaceSize;
    this.cgroupRoot = options.cgroupRoot;
    // Loaded on the first fault only: one file less on the preload's start-up path.
    this.fault = options.onFault ?? ((what, err) => (require('./fault') as typeof import('./fault')).reportFault(what, err));
    this.eventLoopResolution = options.eventLoopResolution;
    this.fetchTuner = new FetchTuner(this.config.connectionPooling, this.fault);
  }

  private get probes(): { eventLoop: EventLoopProbe; gc: GcProbe; heap: HeapProbe } {
    if (!this.lazyProbes) {
      const { EventLoopProbe } = require('./event-loop-probe') as typeof import('./event-loop-probe');
      const { GcProbe } = require('./gc-probe') as typeof import('./gc-probe');
      const { HeapProbe } = require('./heap-probe') as typeof import('./heap-probe');
      this.lazyProbes = { eventLoop: new EventLoopProbe(this.eventLoopResolution), gc: new GcProbe(), heap: new HeapProbe() };
    }
    return this.lazyProbes;
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
    // A timeout refreshed after each tick, unref'd: ticks never overlap and never keep the process alive.
    this.timer = setTimeout(() => this.tick(), this.config.sampleInterval).unref();
    // After the main module has run: start the probes, tune the http agents it
    // loaded, read the cgroup files, announce. Kept out of start() so the
    // preload stays within its start-up budget.
    this.settle = setImmediate(() => this.guard('starting the probes', () => this.settleNow())).unref();
    return this;
  }

  /**
   * Runs once: from the immediate, or from the first tick if a long main
   * module let the timer fire first. The heap/GC verdicts (cgroup files,
   * Node's flag list: ~6 ms of CPU) are not computed here but by whoever asks
   * first (status(), telemetry, an announce with a listener), so a short job
   * that ends before anyone asks never pays for them.
   */
  private settleNow(): void {
    if (this.settle) clearImmediate(this.settle);
    this.settle = undefined;
    this.enableProbes();
    this.checkHttpAgents();
    this.announce();
  }

  private enableProbes(): void {
    const { heap, eventLoop, gc } = this.probes;
    if (heap.enabled) return;
    heap.enable();
    this.guard('event-loop probe', () => eventLoop.enable());
    this.guard('GC probe', () => gc.enable());
  }

  stop(): this {
    if (!this.running) return this;
    clearTimeout(this.timer);
    if (this.settle) clearImmediate(this.settle);
    this.timer = undefined;
    this.settle = undefined;
    if (this.lazyProbes) {
      const { heap, eventLoop, gc } = this.lazyProbes;
      this.guard('event-loop probe', () => eventLoop.disable());
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
    return this.latest;
  }

  /** Takes a reading now (also what each interval does). */
  sample(): Readings {
    if (this.running) this.enableProbes();
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
    const readings: Readings = {
      at: now,
      intervalMs,
      eventLoop: this.probes.eventLoop.read(),
      gc: this.probes.gc.read(intervalMs),
      heap: this.probes.heap.read(),
      pools: this.fetchTuner.pools(),
      dbPools,
    };
    this.latest = readings;
    return readings;
  }

  private tick(): void {
    try {
      if (this.settle) this.settleNow();
      const readings = this.sample();
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
    // Report the truth as of now: an http module the app loaded since the last tick gets tuned first.
    this.checkHttpAgents();
    const npmUndici = this.config.tuneFetch ? this.guardValue('npm undici status', () => this.fetchTuner.npmUndiciStatus()) : undefined;
    const tuning: TunerStatus[] = [
      this.config.tuneFetch ? this.fetchTuner.status() : { name: 'fetch', state: 'off', reason: 'nodejs.tuneFetch is false' },
      ...(npmUndici ? [npmUndici] : []),
      ...(this.config.tuneHttpAgents
        ? this.httpTuner.status()
        : ['http.globalAgent', 'https.globalAgent'].map((name): TunerStatus => ({ name, state: 'off', reason: 'nodejs.tuneHttpAgents is false' }))),
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
      leftAlone: tuning.filter((t) => t.state === 'left-alone' || t.state === 'replaced').map((t) => ({ name: t.name, reason: t.reason ?? '' })),
      verdicts,
      configIssues: this.configIssues,
      memory: {
        limitBytes: memory?.bytes ?? 0,
        source: memory?.source ?? 'host',
        file: memory?.file,
        notes: memory?.notes ?? [],
        heapLimitBytes: (require('node:v8') as typeof import('node:v8')).getHeapStatistics().heap_size_limit,
      },
    };
  }

  getPerformanceMetrics(): NodeRuntimeMetrics {
    return { at: Date.now(), readings: this.latest, activeWarnings: this.thresholds.active(), verdicts: this.verdicts() };
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
