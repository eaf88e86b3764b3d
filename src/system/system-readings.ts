/** The sidecar's system readings for `status` and the daemon: applied sysctls, file descriptors, load, memory. */
import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { SysctlStore } from './sysctl-store';

export interface SystemReadings {
  at: number;
  /** Managed sysctls: current value, desired value and whether it is met. */
  sysctls: { key: string; current: string | null; desired: string; ok: boolean; skipped?: string }[];
  /** From fs/file-nr: allocated handles, and the system-wide maximum. */
  fileDescriptors: { allocated: number; max: number; usage: number } | null;
  load: { avg1: number; avg5: number; avg15: number; cpus: number };
  memory: { totalBytes: number; availableBytes: number; usage: number };
}

export async function readSystemReadings(
  opts: { procRoot?: string; sysctl?: SysctlStore } = {},
): Promise<SystemReadings> {
  const procRoot = opts.procRoot ?? '/proc';
  const sysctls: SystemReadings['sysctls'] = [];
  if (opts.sysctl) {
    for (const d of await opts.sysctl.desired()) {
      const current = await opts.sysctl.read(d.key).catch(() => null);
      sysctls.push({
        key: d.key,
        current,
        desired: d.value,
        ok: opts.sysctl.satisfies(current, d),
        ...(d.skip ? { skipped: d.skip } : {}),
      });
    }
  }
  const [avg1, avg5, avg15] = loadavg();
  const total = totalmem();
  const available = memAvailable(procRoot) ?? freemem();
  return {
    at: Date.now(),
    sysctls,
    fileDescriptors: fileNr(procRoot),
    load: { avg1, avg5, avg15, cpus: cpus().length },
    memory: { totalBytes: total, availableBytes: available, usage: total > 0 ? 1 - available / total : 0 },
  };
}

function fileNr(procRoot: string): SystemReadings['fileDescriptors'] {
  try {
    const [allocated, , max] = readFileSync(join(procRoot, 'sys/fs/file-nr'), 'utf8').trim().split(/\s+/).map(Number);
    if (!Number.isFinite(allocated) || !Number.isFinite(max)) return null;
    return { allocated, max, usage: max > 0 ? allocated / max : 0 };
  } catch {
    return null;
  }
}

// MemAvailable counts reclaimable cache, unlike os.freemem().
function memAvailable(procRoot: string): number | undefined {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync(join(procRoot, 'meminfo'), 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
