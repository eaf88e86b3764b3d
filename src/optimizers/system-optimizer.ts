/**
 * Kernel sysctls and log rotation, through the sidecar's engine (the same
 * plan, fsync'd journal, apply, read-back and rollback as
 * `titan-perf-sidecar`). Nothing is held open between calls: each one builds
 * the engine over the stores, runs, and lets go.
 */
import { createSidecarEngine, type SidecarEngine } from '../wiring/create-engine';
import type { PlanEntry } from '../engine/types';
import type { TitanPerfConfig } from '../config/types';
import { readSystemReadings, type SystemReadings } from '../system/system-readings';
import { checkNoArguments } from '../arguments';
import { appliedDrift, errorOf, reportFromApply, reportFromRollback } from './engine-report';
import type { AreaReport, RollbackReport } from './types';

export interface SystemOptimizerOptions {
  /** procfs root; `/proc` unless testing or reading a host mount. */
  procRoot?: string;
}

export interface SystemMetrics extends SystemReadings {
  /** Settings titan-perf applied that no longer hold (a hand edit, another tool, a reboot). */
  drift: PlanEntry[];
}

export class SystemOptimizer {
  readonly procRoot: string;
  private config: TitanPerfConfig;

  constructor(config: TitanPerfConfig, opts: SystemOptimizerOptions = {}) {
    this.config = config;
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /** @internal PerformanceOptimizer swaps the config for the HFT profile. */
  setConfig(config: TitanPerfConfig): void {
    this.config = config;
  }

  private build(): SidecarEngine {
    // Redis has an optimizer of its own; one engine per area keeps their reports and rollbacks apart.
    const config = { ...this.config, redis: { ...this.config.redis, enabled: false } };
    return createSidecarEngine({ config, stateDir: this.config.dataDir, procRoot: this.procRoot });
  }

  async optimize(): Promise<AreaReport> {
    if (!this.config.system.enabled)
      return {
        area: 'system',
        applied: [],
        warnings: ['system.enabled is false: kernel parameters and log rotation left alone'],
        errors: [],
      };
    let built: SidecarEngine | undefined;
    try {
      built = this.build();
      const report = reportFromApply('system', await built.engine.apply());
      const readOnly = built.sysctl?.access().readOnly;
      if (readOnly) report.warnings.unshift(`kernel parameters not applied: ${readOnly}`);
      return report;
    } catch (err) {
      return { area: 'system', applied: [], warnings: [], errors: [errorOf('system', err)] };
    } finally {
      await built?.close();
    }
  }

  /** Settings applied earlier (journalled) whose current value no longer meets the desired one. */
  async drift(): Promise<PlanEntry[]> {
    if (!this.config.system.enabled) return [];
    const built = this.build();
    try {
      return await appliedDrift(built.engine);
    } finally {
      await built.close();
    }
  }

  /** The applied sysctls against their desired values, file-descriptor use, load and memory, plus drift. */
  async getSystemMetrics(...args: unknown[]): Promise<SystemMetrics> {
    checkNoArguments('getSystemMetrics', args);
    const built = this.build();
    try {
      const readings = await readSystemReadings({
        procRoot: this.procRoot,
        sysctl: this.config.system.enabled ? built.sysctl : undefined,
      });
      // Drift from the engine already built, not a second one.
      const drift = this.config.system.enabled ? await appliedDrift(built.engine) : [];
      return { ...readings, drift };
    } finally {
      await built.close();
    }
  }

  /** Restores every journalled original (also those of an earlier process or a crashed sidecar run). */
  async rollback(): Promise<RollbackReport> {
    let built: SidecarEngine | undefined;
    try {
      const config = { ...this.config, redis: { ...this.config.redis, enabled: false } };
      // allStores: whatever was journalled must be reachable even if system.enabled is now false.
      built = createSidecarEngine({ config, stateDir: this.config.dataDir, procRoot: this.procRoot, allStores: true });
      return reportFromRollback('system', await built.engine.rollback());
    } catch (err) {
      return { success: false, restored: [], warnings: [], errors: [errorOf('system', err)] };
    } finally {
      await built?.close();
    }
  }
}
