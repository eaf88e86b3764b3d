/** Human-readable tables for the sidecar's commands (`--json` prints the objects as they are). */
import { createHash } from 'node:crypto';
import type { ApplyResult, RollbackResult, VerifyResult } from '../src/engine/engine';
import type { PlanEntry } from '../src/engine/types';
import type { SystemReadings } from '../src/system/system-readings';

/** Multi-line values (a generated logrotate config) shown as a short digest. */
export function shortValue(value: string | null): string {
  if (value === null) return '-';
  if (!value.includes('\n') && value.length <= 40) return value.replace(/\t/g, ' ');
  const lines = value.split('\n').filter(Boolean).length;
  return `<${lines}-line file sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}>`;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function planTable(plan: PlanEntry[]): string {
  const rows = plan.map((e) => [
    e.store,
    e.key,
    shortValue(e.current),
    shortValue(e.desired),
    e.action,
    [e.reason, ...(e.warnings ?? []).map((w) => `warning: ${w}`)].filter(Boolean).join('; '),
  ]);
  return table(['STORE', 'KEY', 'CURRENT', 'DESIRED', 'ACTION', 'REASON'], rows);
}

export function applyText(r: ApplyResult): string {
  if (r.dryRun) return `dry run, nothing changed:\n${planTable(r.plan)}`;
  let out = planTable(r.plan);
  out += `\napplied ${r.changed.length}, failed ${r.failed.length}, rolled back ${r.rolledBack.length}\n`;
  for (const f of r.failed) out += `failed: ${f.store} ${f.key}: ${f.message} [${f.code}]\n`;
  for (const b of r.rolledBack) out += `rolled back: ${b.store} ${b.key}\n`;
  for (const u of r.unavailable) out += `not applied: ${u.store}: ${u.reason}\n`;
  return out;
}

export function verifyText(r: VerifyResult): string {
  const down = r.unavailable.map((u) => `not checked: ${u.store}: ${u.reason}\n`).join('');
  return verifyBody(r) + down;
}

function verifyBody(r: VerifyResult): string {
  if (r.inSync)
    return `in the desired state (${r.plan.filter((e) => e.action === 'ok').length} settings ok, ${r.plan.filter((e) => e.action === 'skip').length} skipped)\n`;
  return `drift in ${r.drift.length} setting(s):\n${planTable(r.drift)}`;
}

export function rollbackText(r: RollbackResult): string {
  if (r.restored.length === 0 && r.failed.length === 0) return 'nothing to roll back: the journal is empty\n';
  let out = '';
  for (const x of r.restored) out += `restored ${x.store} ${x.key} = ${shortValue(x.value)}\n`;
  for (const f of r.failed) out += `not restored: ${f.store} ${f.key}: ${f.message} [${f.code}]\n`;
  return out;
}

export function readingsText(s: SystemReadings): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  let out = `load ${s.load.avg1.toFixed(2)} ${s.load.avg5.toFixed(2)} ${s.load.avg15.toFixed(2)} (${s.load.cpus} cpus)\n`;
  out += `memory ${pct(s.memory.usage)} used of ${(s.memory.totalBytes / 2 ** 20).toFixed(0)} MiB\n`;
  out += s.fileDescriptors
    ? `file descriptors ${s.fileDescriptors.allocated} of ${s.fileDescriptors.max} (${pct(s.fileDescriptors.usage)})\n`
    : 'file descriptors: unknown\n';
  if (s.sysctls.length > 0) {
    out +=
      '\n' +
      table(
        ['SYSCTL', 'CURRENT', 'DESIRED', 'STATE'],
        s.sysctls.map((x) => [
          x.key,
          shortValue(x.current),
          shortValue(x.desired),
          x.skipped ? 'skipped' : x.ok ? 'ok' : 'drift',
        ]),
      );
  }
  return out;
}
