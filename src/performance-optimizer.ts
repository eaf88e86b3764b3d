/**
 * The library's orchestrator: one validated config, three optimizers over the
 * parts the preload and the sidecar use (runtime agent, sidecar engine and
 * its stores), the score, and the events. One optimizer's failure never
 * stops the others; operations run one at a time so a rollback never
 * interleaves with an apply.
 */
import { EventEmitter } from 'node:events';
import { PROFILE_OVERRIDES } from './config/defaults';
import { resolveConfig } from './config/load';
import { deepMerge, isPlainObject } from './config/merge';
import type { DeepPartial, TitanPerfConfig } from './config/types';
import { ArgumentError, ConfigError, formatIssue, TitanPerfError } from './errors';
import { checkNoArguments, checkOptions } from './arguments';
import { errorOf } from './optimizers/engine-report';
import { NodeJSOptimizer } from './optimizers/nodejs-optimizer';
import { RedisOptimizer, type RedisHealthCheck } from './optimizers/redis-optimizer';
import { SystemOptimizer, type SystemMetrics } from './optimizers/system-optimizer';
import type { Area, AreaReport, OptimizationError, OptimizationResult, RollbackReport } from './optimizers/types';
import type { DatabaseConnectionPool, DatabaseConnectionPoolOptions } from './pools/database-connection-pool';
import type { NodeRuntimeMetrics } from './runtime/agent';
import type { DbPoolReading, Readings } from './runtime/runtime-readings';
import { scorePerformance } from './score/score';
import type { ScoreResult } from './score/types';

export interface PerformanceOptimizerOptions {
  /** procfs root for kernel parameters; `/proc` unless testing or managing a host mount. */
  procRoot?: string;
  /** Environment for TITAN_PERF_* overrides, the profile and the config file; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

export interface PerformanceMetrics {
  at: number;
  overall: ScoreResult;
  nodejs: NodeRuntimeMetrics & { readings: Readings };
  pools: DbPoolReading[];
  redis: RedisHealthCheck | { enabled: false };
  system: SystemMetrics | { enabled: false } | { error: OptimizationError };
}

const OPTION_KEYS = ['procRoot', 'env'] as const;

export class PerformanceOptimizer extends EventEmitter {
  private currentConfig: TitanPerfConfig;
  readonly nodejsOptimizer: NodeJSOptimizer;
  readonly redisOptimizer: RedisOptimizer;
  readonly systemOptimizer: SystemOptimizer;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /**
   * @param config a partial config deep-merged over the defaults (and the
   *   profile, file and TITAN_PERF_* layers); validated whole, a ConfigError
   *   names every bad field.
   */
  constructor(config?: DeepPartial<TitanPerfConfig>, options?: PerformanceOptimizerOptions) {
    super();
    if (config !== undefined && !isPlainObject(config))
      throw new ArgumentError('PerformanceOptimizer config', config, 'a configuration object or undefined');
    const opts = checkOptions('PerformanceOptimizer options', options, OPTION_KEYS) as PerformanceOptimizerOptions;
    if (opts.procRoot !== undefined && (typeof opts.procRoot !== 'string' || !opts.procRoot.startsWith('/'))) {
      throw new ArgumentError('PerformanceOptimizer options.procRoot', opts.procRoot, 'an absolute directory path');
    }
    if (opts.env !== undefined && !isPlainObject(opts.env))
      throw new ArgumentError('PerformanceOptimizer options.env', opts.env, 'an object of environment variables');
    this.currentConfig = resolveCodeConfig(config, opts.env);
    this.nodejsOptimizer = new NodeJSOptimizer(this.currentConfig.nodejs);
    this.redisOptimizer = new RedisOptimizer(this.currentConfig);
    this.systemOptimizer = new SystemOptimizer(this.currentConfig, { procRoot: opts.procRoot });
    this.nodejsOptimizer.on('performance-warning', (w) => this.safeEmit('performance-warning', w));
  }

  /** The effective, validated configuration. */
  get config(): TitanPerfConfig {
    return this.currentConfig;
  }

  /** Rejects bad arguments before anything runs, then queues `fn` behind the running operation. */
  private run<T>(method: string, args: unknown[], fn: () => Promise<T>): Promise<T> {
    try {
      checkNoArguments(method, args);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(closedError());
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Applies the Node.js, Redis and system optimizations; each runs whatever the others did. */
  applyAllOptimizations(...args: unknown[]): Promise<OptimizationResult> {
    return this.run('applyAllOptimizations', args, () => this.applyAll());
  }

  private async applyAll(): Promise<OptimizationResult> {
    const areas: AreaReport[] = [];
    const steps: [Area, () => Promise<AreaReport>, string][] = [
      ['nodejs', () => this.nodejsOptimizer.optimize(), 'nodejs-optimized'],
      ['redis', () => this.redisOptimizer.optimize(), 'redis-optimized'],
      ['system', () => this.systemOptimizer.optimize(), 'system-optimized'],
    ];
    for (const [area, step, event] of steps) {
      let report: AreaReport;
      try {
        report = await step();
      } catch (err) {
        report = { area, applied: [], warnings: [], errors: [errorOf(area, err)] };
      }
      areas.push(report);
      if (report.errors.length === 0) this.safeEmit(event, report);
    }
    const result: OptimizationResult = {
      success: areas.every((a) => a.errors.length === 0),
      appliedOptimizations: areas.flatMap((a) => a.applied),
      errors: areas.flatMap((a) => a.errors),
      warnings: areas.flatMap((a) => a.warnings),
      areas,
    };
    this.safeEmit(result.success ? 'optimization-completed' : 'optimization-failed', result);
    return result;
  }

  /**
   * Switches to the `hft` profile on top of the current config (1 ms
   * event-loop threshold, larger pools, Redis without AOF or fsync, latency
   * sysctls) and applies everything. The profile's values win over the
   * current ones; a config that fails validation changes nothing.
   */
  optimizeForHighFrequencyTrading(...args: unknown[]): Promise<OptimizationResult> {
    return this.run('optimizeForHighFrequencyTrading', args, async () => {
      const next = resolveConfig({
        env: {},
        file: null,
        code: deepMerge(this.currentConfig, PROFILE_OVERRIDES.hft),
        strict: true,
      }).config;
      this.useConfig(next);
      return this.applyAll();
    });
  }

  private useConfig(config: TitanPerfConfig): void {
    this.currentConfig = config;
    this.nodejsOptimizer.setConfig(config.nodejs);
    this.redisOptimizer.setConfig(config);
    this.systemOptimizer.setConfig(config);
  }

  /** Readings of every area and the overall score, status and recommendations. */
  getPerformanceMetrics(...args: unknown[]): Promise<PerformanceMetrics> {
    return this.run('getPerformanceMetrics', args, async () => {
      const c = this.currentConfig;
      const [nodejs, redis, system] = await Promise.all([
        this.nodejsOptimizer.getMetrics(),
        c.redis.enabled ? this.redisOptimizer.performHealthCheck() : Promise.resolve({ enabled: false as const }),
        c.system.enabled
          ? this.systemOptimizer.getSystemMetrics().catch((err: unknown) => ({ error: errorOf('system', err) }))
          : Promise.resolve({ enabled: false as const }),
      ]);
      const redisInput =
        'enabled' in redis ? undefined : (redis.health ?? { error: redis.error?.message ?? 'unreadable' });
      const overall = scorePerformance({
        nodejs: c.nodejs,
        redisConfig: c.redis,
        readings: nodejs.readings,
        verdicts: nodejs.verdicts,
        redis: redisInput,
        drift: [...('drift' in system ? system.drift : []), ...('drift' in redis ? (redis.drift ?? []) : [])],
      });
      return { at: Date.now(), overall, nodejs, pools: nodejs.readings.dbPools, redis, system };
    });
  }

  /** Restores what was applied: Redis and system settings from the engine's journals, fetch's dispatcher and the http agents in-process. */
  rollbackOptimizations(...args: unknown[]): Promise<RollbackReport> {
    return this.run('rollbackOptimizations', args, async () => {
      const parts: RollbackReport[] = [];
      for (const [area, step] of [
        ['nodejs', () => this.nodejsOptimizer.rollback()],
        ['redis', () => this.redisOptimizer.rollback()],
        ['system', () => this.systemOptimizer.rollback()],
      ] as [Area, () => Promise<RollbackReport>][]) {
        try {
          parts.push(await step());
        } catch (err) {
          parts.push({ success: false, restored: [], warnings: [], errors: [errorOf(area, err)] });
        }
      }
      const result: RollbackReport = {
        success: parts.every((p) => p.errors.length === 0),
        restored: parts.flatMap((p) => p.restored),
        errors: parts.flatMap((p) => p.errors),
        warnings: parts.flatMap((p) => p.warnings),
      };
      this.safeEmit('rollback-completed', result);
      return result;
    });
  }

  /** A database pool sized from nodejs.connectionPooling, in the readings and the score; closed by close(). */
  createDatabaseConnectionPool<T extends object>(
    name: string,
    create: () => T | Promise<T>,
    destroy: (connection: T) => unknown,
    options?: DatabaseConnectionPoolOptions<T>,
  ): DatabaseConnectionPool<T> {
    if (this.closed) throw closedError();
    return this.nodejsOptimizer.createDatabaseConnectionPool(name, create, destroy, options);
  }

  /**
   * Stops watching, restores what the in-process part tuned, closes the
   * pools. System and Redis settings stay applied (rollbackOptimizations
   * undoes them). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    await this.nodejsOptimizer.close();
  }

  /** The same as close(). */
  shutdown(): Promise<void> {
    return this.close();
  }

  private safeEmit(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (err) {
      // A throwing listener must not turn a finished optimization into a failure.
      process.emitWarning(`titan-perf: a '${event}' listener threw: ${(err as Error)?.message ?? err}`);
    }
  }
}

/**
 * What code passes must be valid: a ConfigError names every bad field. The
 * environment and config-file layers follow the preload's documented rule:
 * a bad field falls back to its default with one warning, unless
 * TITAN_PERF_STRICT=1 makes every issue fatal.
 */
function resolveCodeConfig(config: unknown, env: Record<string, string | undefined> | undefined): TitanPerfConfig {
  const resolved = resolveConfig({ code: config, env });
  const strict = (env ?? process.env).TITAN_PERF_STRICT === '1';
  const fatal = strict ? resolved.issues : resolved.issues.filter((i) => i.source === 'code');
  if (fatal.length > 0) throw new ConfigError(fatal);
  for (const issue of resolved.issues) {
    process.emitWarning(`titan-perf: ${formatIssue(issue)}; using the default`, { code: 'TITAN_PERF_CONFIG_FALLBACK' });
  }
  return resolved.config;
}

function closedError(): TitanPerfError {
  return new TitanPerfError('TITAN_PERF_CLOSED', 'this PerformanceOptimizer was closed; create a new one');
}
