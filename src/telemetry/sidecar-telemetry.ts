/**
 * The sidecar daemon's telemetry: titan-perf's own pipeline (the sidecar owns
 * its process, so there is no app SDK to share with) per the standard OTEL_*
 * variables, the sidecar instruments, and Redis health polled on the export
 * interval. With no exporter configured nothing is loaded and every call is
 * a no-op, so the daemon can call it unconditionally.
 */
import type { ApplyResult, RollbackResult, VerifyResult } from '../engine/engine';
import type { PlanEntry } from '../engine/types';
import { parseExportEnv } from './export-env';
import { METER_NAME } from './names';

export interface SidecarTelemetry {
  /** After a verify pass: settings by state; drift shows until repaired. */
  verified(result: VerifyResult): void;
  /** After an apply (`repair`: a drift repair by the daemon rather than the initial apply). */
  applied(result: ApplyResult, repair: boolean): void;
  rolledBack(result: RollbackResult | undefined): void;
  logrotateRan(ok: boolean): void;
  shutdown(): Promise<void>;
}

export interface SidecarTelemetryOptions {
  /** Redis health (RedisHealth), read on the export interval. */
  redisHealth?: () => Promise<unknown>;
  /** One line per problem. */
  log: (line: string) => void;
  env?: Record<string, string | undefined>;
}

const NOOP: SidecarTelemetry = {
  verified() {},
  applied() {},
  rolledBack() {},
  logrotateRan() {},
  shutdown: async () => undefined,
};

/** Redis health is read at most this often, however short the export interval. */
const MIN_HEALTH_MS = 1000;
const MAX_HEALTH_MS = 15_000;

export function startSidecarTelemetry(opts: SidecarTelemetryOptions): SidecarTelemetry {
  const env = opts.env ?? process.env;
  const { plan, warnings } = parseExportEnv(env);
  for (const w of warnings) opts.log(`titan-perf: ${w}`);
  if (plan.exporters.length === 0) return NOOP;
  try {
    const { createOwnPipeline } = require('./own-pipeline') as typeof import('./own-pipeline');
    const { createSidecarInstruments } = require('./sidecar-instruments') as typeof import('./sidecar-instruments');
    const pipeline = createOwnPipeline(plan, opts.log, env);
    let lastPlan: PlanEntry[] | undefined;
    let redisMetrics: Record<string, number | null> | undefined;
    const instruments = createSidecarInstruments(pipeline.provider.getMeter(METER_NAME), {
      lastPlan: () => lastPlan,
      redisMetrics: () => redisMetrics,
    });
    let healthTimer: NodeJS.Timeout | undefined;
    let healthFailed = false;
    if (opts.redisHealth) {
      const every = Math.min(MAX_HEALTH_MS, Math.max(MIN_HEALTH_MS, plan.intervalMs));
      const read = async () => {
        try {
          const h = (await opts.redisHealth!()) as { metrics?: Record<string, number | null> } | undefined;
          redisMetrics = h?.metrics;
          healthFailed = false;
        } catch (err) {
          redisMetrics = undefined;
          if (!healthFailed) opts.log(`titan-perf: Redis health for metrics failed: ${(err as Error).message}`);
          healthFailed = true;
        }
        healthTimer = setTimeout(() => void read(), every);
        healthTimer.unref();
      };
      void read();
    }
    const byStore = (entries: readonly { store: string }[]) => {
      const counts = new Map<string, number>();
      for (const e of entries) counts.set(e.store, (counts.get(e.store) ?? 0) + 1);
      return counts;
    };
    return {
      verified(result) {
        lastPlan = result.plan;
      },
      applied(result, repair) {
        lastPlan = result.plan;
        for (const [store, n] of byStore(result.changed)) {
          instruments.recordChange(store, 'applied', n);
          if (repair) instruments.recordDriftRepair(store, n);
        }
        for (const [store, n] of byStore(result.failed)) instruments.recordChange(store, 'failed', n);
      },
      rolledBack(result) {
        instruments.recordRollback(result?.ok ? 'ok' : 'failed');
      },
      logrotateRan(ok) {
        instruments.recordLogrotateRun(ok ? 'ok' : 'failed');
      },
      async shutdown() {
        clearTimeout(healthTimer);
        instruments.dispose();
        await pipeline.shutdown();
      },
    };
  } catch (err) {
    opts.log(`titan-perf: sidecar metrics are off: ${(err as Error).message}`);
    return NOOP;
  }
}
