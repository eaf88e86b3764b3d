/**
 * Turns the sidecar engine's apply and rollback results into the
 * optimizers' reports: changed settings are applied, skipped ones and
 * durability notes are warnings, failures are errors, except a missing
 * privilege, which is a warning: an unprivileged run is expected to
 * tune what it can and say what it could not.
 */
import {
  STORE_UNAVAILABLE_CODE,
  UNAVAILABLE_KEY,
  type ApplyResult,
  type Engine,
  type RollbackResult,
  type SettingFailure,
} from '../engine/engine';
import type { PlanEntry } from '../engine/types';
import type { Area, AreaReport, OptimizationError, RollbackReport } from './types';

const PRIVILEGE_CODES = new Set(['TITAN_PERF_SYSCTL_READONLY', 'EACCES', 'EPERM', 'EROFS']);

export function errorOf(area: Area, err: unknown, key?: string): OptimizationError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'TITAN_PERF_UNEXPECTED';
  const message = String(e?.message ?? err).split('\n')[0];
  return key === undefined ? { area, code, message } : { area, code, message, key };
}

function failureLine(f: SettingFailure): string {
  return `${f.store} ${f.key}: ${f.message} (${f.code})`;
}

export function reportFromApply(area: Area, r: ApplyResult): AreaReport {
  const report: AreaReport = { area, applied: [], warnings: [], errors: [] };
  for (const c of r.changed) report.applied.push(`${c.store} ${c.key}: ${c.from ?? '(absent)'} -> ${c.to}`);
  for (const e of r.plan) {
    if (e.action === 'skip' && e.key === UNAVAILABLE_KEY)
      report.errors.push({ area, code: STORE_UNAVAILABLE_CODE, message: `${e.store}: ${e.reason ?? 'unavailable'}` });
    else if (e.action === 'skip') report.warnings.push(`${e.store} ${e.key} not applied: ${e.reason ?? 'skipped'}`);
    for (const w of e.warnings ?? []) if (e.action === 'change') report.warnings.push(`${e.store} ${e.key}: ${w}`);
  }
  for (const f of r.failed) {
    if (PRIVILEGE_CODES.has(f.code)) report.warnings.push(`${failureLine(f)}; needs privilege`);
    else report.errors.push({ area, code: f.code, message: `${f.store} ${f.key}: ${f.message}`, key: f.key });
  }
  for (const b of r.rolledBack)
    report.warnings.push(`${b.store} ${b.key}: put back after a failure in the same run (atomic apply)`);
  return report;
}

export function reportFromRollback(area: Area, r: RollbackResult): RollbackReport {
  return {
    success: r.ok,
    restored: r.restored.map((x) => `${x.store} ${x.key}: restored ${x.value ?? '(absent)'}`),
    errors: r.failed.map((f) => ({ area, code: f.code, message: `${f.store} ${f.key}: ${f.message}`, key: f.key })),
    warnings: [],
  };
}

/**
 * Settings titan-perf applied (an original is journalled) whose current value
 * no longer meets the desired one. Settings never applied are not drift, only
 * pending: a fresh machine must not score as drifted.
 */
export async function appliedDrift(engine: Engine): Promise<PlanEntry[]> {
  const applied = new Set((await engine.originals()).map((o) => `${o.store}\0${o.key}`));
  if (applied.size === 0) return [];
  const { drift } = await engine.verify();
  return drift.filter((d) => applied.has(`${d.store}\0${d.key}`));
}
