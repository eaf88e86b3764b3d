/**
 * Sysctl key -> procfs path, refusing anything that could leave `<root>/sys`:
 * the key grammar rules out `/`, `..` and absolute parts, and the resolved
 * (and, when it exists, symlink-resolved) path is checked to stay inside.
 */
import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { TitanPerfError } from '../errors';
import { SYSCTL_KEY_RE } from '../config/sysctl-catalogue';

export function sysctlPath(procRoot: string, key: string): string {
  if (typeof key !== 'string' || !SYSCTL_KEY_RE.test(key) || key.length > 200) {
    throw new TitanPerfError(
      'TITAN_PERF_SYSCTL_KEY_INVALID',
      `sysctl key ${JSON.stringify(key)} is not allowed: expected a dotted key such as 'net.core.somaxconn' (letters, digits, _ and - between dots; no '/', '..' or absolute paths)`,
    );
  }
  const base = resolve(procRoot, 'sys');
  const path = resolve(base, ...key.split('.'));
  if (!path.startsWith(base + sep)) throw escaped(key, path);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path; // Absent: nothing to follow, and the lexical check above holds.
  }
  let realBase: string;
  try {
    realBase = realpathSync(base);
  } catch {
    realBase = base;
  }
  if (!real.startsWith(realBase + sep)) throw escaped(key, real);
  return path;
}

function escaped(key: string, path: string): TitanPerfError {
  return new TitanPerfError(
    'TITAN_PERF_SYSCTL_KEY_INVALID',
    `sysctl key ${JSON.stringify(key)} resolves to ${path}, outside the procfs sys tree; refused`,
  );
}
