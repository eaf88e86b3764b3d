/**
 * The sidecar's instruments on a Meter: the state of managed settings at the
 * last verify and Redis health are observed at collection time; apply, drift
 * repair, rollback and logrotate results are recorded by the daemon as they
 * happen. The sidecar owns its process, so it may use its own pipeline
 * (`createOwnPipeline`) without any coexistence concern.
 */
import type { BatchObservableResult, Counter, Meter, Observable } from '@opentelemetry/api';
import type { PlanEntry } from '../engine/types';
import { PREFIX, REDIS_METRICS, SIDECAR_METRICS } from './names';

export interface SidecarTelemetrySource {
  /** The last verify's plan (action `ok` = satisfied, `change` = drifted, `skip` = not managed). */
  lastPlan?(): readonly PlanEntry[] | undefined;
  /** Redis readings keyed by the Collector receiver's metric names (RedisHealth.metrics). */
  redisMetrics?(): Readonly<Record<string, number | null>> | undefined;
}

export interface SidecarInstruments {
  recordChange(store: string, result: 'applied' | 'failed', count?: number): void;
  recordDriftRepair(store: string, count?: number): void;
  recordRollback(result: 'ok' | 'failed'): void;
  recordLogrotateRun(result: 'ok' | 'failed'): void;
  dispose(): void;
}

const STATE_OF: Record<PlanEntry['action'], string> = { ok: 'ok', change: 'drift', skip: 'skip' };

export function createSidecarInstruments(meter: Meter, source: SidecarTelemetrySource): SidecarInstruments {
  const spec = (name: string) => SIDECAR_METRICS.find((m) => m.name === name)!;
  const counter = (name: string): Counter => {
    const s = spec(name);
    return meter.createCounter(s.name, { unit: s.unit, description: s.description });
  };
  const settings = meter.createObservableGauge(`${PREFIX}sidecar.settings`, {
    unit: spec(`${PREFIX}sidecar.settings`).unit,
    description: spec(`${PREFIX}sidecar.settings`).description,
  });
  const redis = new Map<string, Observable>();
  for (const m of REDIS_METRICS) {
    const opts = { unit: m.unit, description: m.description };
    redis.set(
      m.field,
      m.kind === 'counter'
        ? meter.createObservableCounter(m.name, opts)
        : m.kind === 'updowncounter'
          ? meter.createObservableUpDownCounter(m.name, opts)
          : meter.createObservableGauge(m.name, opts),
    );
  }
  const changes = counter(`${PREFIX}sidecar.changes`);
  const repairs = counter(`${PREFIX}sidecar.drift.repairs`);
  const rollbacks = counter(`${PREFIX}sidecar.rollbacks`);
  const rotations = counter(`${PREFIX}logrotate.runs`);

  const observables = [settings, ...redis.values()];
  const callback = (result: BatchObservableResult) => {
    const plan = source.lastPlan?.();
    if (plan) {
      const counts = new Map<string, number>();
      for (const e of plan) {
        const key = `${e.store}\0${STATE_OF[e.action]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      // Every store reports all three states, so a repaired drift goes to 0 instead of vanishing.
      for (const store of new Set(plan.map((e) => e.store))) {
        for (const state of ['ok', 'drift', 'skip']) {
          result.observe(settings, counts.get(`${store}\0${state}`) ?? 0, {
            [`${PREFIX}store`]: store,
            [`${PREFIX}setting.state`]: state,
          });
        }
      }
    }
    const metrics = source.redisMetrics?.();
    if (metrics) {
      for (const [field, obs] of redis) {
        const v = metrics[field];
        if (typeof v === 'number' && Number.isFinite(v)) result.observe(obs, v);
      }
    }
  };
  meter.addBatchObservableCallback(callback, observables);

  return {
    recordChange: (store, result, count = 1) =>
      changes.add(count, { [`${PREFIX}store`]: store, [`${PREFIX}result`]: result }),
    recordDriftRepair: (store, count = 1) => repairs.add(count, { [`${PREFIX}store`]: store }),
    recordRollback: (result) => rollbacks.add(1, { [`${PREFIX}result`]: result }),
    recordLogrotateRun: (result) => rotations.add(1, { [`${PREFIX}result`]: result }),
    dispose: () => meter.removeBatchObservableCallback(callback, observables),
  };
}
