/**
 * The memory limit the process lives under: cgroup v2 (`memory.max`), cgroup
 * v1 (`memory/memory.limit_in_bytes`), or none (host memory). Nested limits
 * count: the smallest limit from the process's own cgroup up to the root.
 * Missing or unreadable files are not errors: they are reported in `notes`
 * and the next source is tried.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryLimit {
  /** Bytes the process may use. */
  bytes: number;
  source: 'cgroup v2' | 'cgroup v1' | 'host';
  /** The file the limit came from (cgroup only). */
  file?: string;
  /** What could not be read, in words, for status(). */
  notes: string[];
}

export interface MemoryLimitOptions {
  /** Default `/sys/fs/cgroup`, or TITAN_PERF_CGROUP_ROOT. */
  root?: string;
  /** Contents of /proc/self/cgroup (read when not given). */
  procSelfCgroup?: string;
  /** Default os.totalmem(). */
  hostBytes?: number;
}

/** cgroup v1 writes "no limit" as a page-rounded 2^63-1; anything at or above host memory means the same. */
function parseLimit(text: string): number | 'max' | undefined {
  const t = text.trim();
  if (t === 'max') return 'max';
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : 'max';
}

function read(file: string, notes: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') notes.push(`${file}: ${code ?? (err as Error).message}`);
    return undefined;
  }
}

/** The cgroup path of this process for the v2 hierarchy ("0::/path") or the v1 memory controller ("N:memory,...:/path"). */
export function cgroupPath(procSelfCgroup: string, version: 1 | 2): string | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (version === 2 && m[1] === '0' && m[2] === '') return m[3];
    if (version === 1 && m[2].split(',').includes('memory')) return m[3];
  }
  return undefined;
}

/** Directories from the cgroup's own up to the hierarchy root, leaf first. */
function chain(base: string, path: string | undefined): string[] {
  const parts = (path ?? '/').split('/').filter((p) => p && p !== '..' && p !== '.');
  const dirs: string[] = [];
  for (let n = parts.length; n >= 0; n--) dirs.push(join(base, ...parts.slice(0, n)));
  return dirs;
}

export function readMemoryLimit(opts: MemoryLimitOptions = {}): MemoryLimit {
  const root = opts.root ?? process.env.TITAN_PERF_CGROUP_ROOT ?? '/sys/fs/cgroup';
  const host = opts.hostBytes ?? (require('node:os') as typeof import('node:os')).totalmem();
  const notes: string[] = [];
  const self = opts.procSelfCgroup ?? read('/proc/self/cgroup', notes) ?? '';

  const attempts: { version: 1 | 2; base: string; file: string }[] = [];
  if (existsSync(join(root, 'cgroup.controllers'))) attempts.push({ version: 2, base: root, file: 'memory.max' });
  if (existsSync(join(root, 'memory')))
    attempts.push({ version: 1, base: join(root, 'memory'), file: 'memory.limit_in_bytes' });
  if (attempts.length === 0) notes.push(`no cgroup memory controller under ${root}`);

  for (const { version, base, file } of attempts) {
    let best: { bytes: number; file: string } | undefined;
    let sawFile = false;
    for (const dir of chain(base, cgroupPath(self, version))) {
      const f = join(dir, file);
      const text = read(f, notes);
      if (text === undefined) continue;
      sawFile = true;
      const v = parseLimit(text);
      if (v === undefined) {
        notes.push(`${f}: unexpected content ${JSON.stringify(text.trim().slice(0, 40))}`);
        continue;
      }
      if (v !== 'max' && v < host && (!best || v < best.bytes)) best = { bytes: v, file: f };
    }
    if (best) return { bytes: best.bytes, source: version === 2 ? 'cgroup v2' : 'cgroup v1', file: best.file, notes };
    if (!sawFile) notes.push(`cgroup v${version}: no ${file} found under ${base}`);
  }
  return { bytes: host, source: 'host', notes };
}
