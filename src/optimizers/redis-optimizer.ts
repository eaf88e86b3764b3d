/**
 * Redis CONFIG through the sidecar's engine and Redis store: the same
 * catalogue, guards (maxmemory below the data set, durability notes),
 * lease, journal kept in Redis itself, and rollback as `titan-perf-sidecar`.
 * Each call connects, works and disconnects, so an optimizer never keeps
 * the process alive and a Redis that went down is simply reported next time.
 */
import type { TitanPerfConfig } from '../config/types';
import { createSidecarEngine, type SidecarEngine } from '../wiring/create-engine';
import type { RedisHealth } from '../redis/health';
import type { RedisRecommendation } from '../redis/recommendations';
import type { RedisStore } from '../redis/store';
import type { PlanEntry } from '../engine/types';
import { STORE_UNAVAILABLE_CODE } from '../engine/engine';
import { checkNoArguments } from '../arguments';
import { appliedDrift, errorOf, reportFromApply, reportFromRollback } from './engine-report';
import type { AreaReport, OptimizationError, RollbackReport } from './types';

export interface RedisHealthCheck {
  /** Parameters titan-perf applied that no longer hold (a CONFIG SET by hand, a restart without CONFIG REWRITE). */
  drift?: PlanEntry[];
  /** Reachable, and the last RDB save / AOF write did not fail. */
  healthy: boolean;
  /** `host:port` (never the URL: it may carry a password). */
  server: string;
  health?: RedisHealth;
  /** What to change and why, from the desired config and the readings. */
  recommendations: RedisRecommendation[];
  /** Why titan-perf only advises on this server (CONFIG blocked, or redis.mode 'advisory'). */
  advisory?: string;
  error?: OptimizationError;
}

type RedisEngine = Omit<SidecarEngine, 'redis'> & { redis: RedisStore };

export class RedisOptimizer {
  private config: TitanPerfConfig;

  constructor(config: TitanPerfConfig) {
    this.config = config;
  }

  /** @internal PerformanceOptimizer swaps the config for the HFT profile. */
  setConfig(config: TitanPerfConfig): void {
    this.config = config;
  }

  private get server(): string {
    const r = this.config.redis;
    if (r.url) {
      try {
        const u = new URL(r.url);
        return `${u.hostname}:${u.port || 6379}`;
      } catch {
        // Node's URL error carries the whole input, credentials included; the store reports the bad URL itself.
        return 'redis.url (not a valid URL)';
      }
    }
    return `${r.host}:${r.port}`;
  }

  private build(warnings: string[]): RedisEngine {
    const config = { ...this.config, system: { ...this.config.system, enabled: false } };
    const built = createSidecarEngine({
      config,
      stateDir: this.config.dataDir,
      warn: (m) => warnings.push(`redis: ${m}`),
    });
    if (!built.redis)
      throw Object.assign(new Error(built.redisUnavailable ?? 'the Redis store could not be built'), {
        code: STORE_UNAVAILABLE_CODE,
      });
    return built as unknown as RedisEngine;
  }

  async optimize(): Promise<AreaReport> {
    const report: AreaReport = { area: 'redis', applied: [], warnings: [], errors: [] };
    if (!this.config.redis.enabled) {
      report.warnings.push('redis.enabled is false: Redis left alone');
      return report;
    }
    let built: RedisEngine | undefined;
    try {
      built = this.build(report.warnings);
      // Connect first so that an unreachable server is one error with its own code, not a skipped plan.
      await built.redis.client();
      const advisory = await built.redis.advisoryReason();
      if (advisory) {
        report.warnings.push(`redis ${this.server}: advisory only, nothing written: ${advisory}`);
        for (const r of await built.redis.recommendations()) report.warnings.push(`redis recommendation: ${r.message}`);
        return report;
      }
      const r = reportFromApply('redis', await built.engine.apply());
      report.applied.push(...r.applied);
      report.warnings.push(...r.warnings);
      report.errors.push(...r.errors);
    } catch (err) {
      report.errors.push(errorOf('redis', err));
    } finally {
      await built?.close();
    }
    return report;
  }

  /** Memory, fragmentation, evictions, hit ratio, clients, persistence and latency events, with advice. Never throws for a server that is down. */
  async performHealthCheck(...args: unknown[]): Promise<RedisHealthCheck> {
    checkNoArguments('performHealthCheck', args);
    const server = this.server;
    if (!this.config.redis.enabled)
      return {
        healthy: false,
        server,
        recommendations: [],
        error: { area: 'redis', code: 'TITAN_PERF_REDIS_DISABLED', message: 'redis.enabled is false' },
      };
    const warnings: string[] = [];
    let built: RedisEngine | undefined;
    try {
      built = this.build(warnings);
      const health = await built.redis.health();
      const advisory = (await built.redis.advisoryReason()) ?? undefined;
      const recommendations = await built.redis.recommendations();
      // Advisory servers were never written to, so nothing of theirs can drift.
      const drift = advisory ? [] : await appliedDrift(built.engine);
      const p = health.persistence;
      const healthy = health.unavailable.length === 0 || !health.unavailable.some((u) => u.startsWith('INFO'));
      return {
        healthy: healthy && p.rdbLastSaveStatus !== 'err' && p.aofLastWriteStatus !== 'err',
        server,
        health,
        recommendations,
        drift,
        ...(advisory ? { advisory } : {}),
      };
    } catch (err) {
      return { healthy: false, server, recommendations: [], error: errorOf('redis', err) };
    } finally {
      await built?.close();
    }
  }

  /** Restores the originals journalled in Redis (by this or any earlier process holding the lease). */
  async rollback(): Promise<RollbackReport> {
    if (!this.config.redis.enabled)
      return {
        success: true,
        restored: [],
        errors: [],
        warnings: ['redis.enabled is false: nothing to roll back in Redis'],
      };
    const warnings: string[] = [];
    let built: RedisEngine | undefined;
    try {
      built = this.build(warnings);
      await built.redis.client();
      const report = reportFromRollback('redis', await built.engine.rollback());
      report.warnings.push(...warnings);
      return report;
    } catch (err) {
      return { success: false, restored: [], warnings, errors: [errorOf('redis', err)] };
    } finally {
      await built?.close();
    }
  }
}
