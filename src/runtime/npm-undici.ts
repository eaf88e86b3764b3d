/**
 * Copies of the npm `undici` package the app has loaded. undici keeps its
 * global dispatcher in a global symbol so that every copy in the process and
 * Node's fetch share one; status() uses this to say whose requests the tuned
 * fetch Agent also carries. Read from the module cache only (an ESM import of
 * undici, a CommonJS package, lands there too): nothing is loaded for it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

export interface LoadedUndici {
  version: string;
  /** The package's directory (aliases such as `undici7@npm:undici@7` keep the name `undici`). */
  dir: string;
  getGlobalDispatcher: () => unknown;
}

export function loadedUndiciPackages(): LoadedUndici[] {
  const out: LoadedUndici[] = [];
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!file.endsWith(`${sep}index.js`)) continue;
    const ex = mod?.exports as { getGlobalDispatcher?: unknown; Agent?: unknown; request?: unknown } | undefined;
    if (
      !ex ||
      typeof ex.getGlobalDispatcher !== 'function' ||
      typeof ex.Agent !== 'function' ||
      typeof ex.request !== 'function'
    )
      continue;
    const dir = dirname(file);
    let pkg: { name?: string; version?: string } = {};
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof pkg;
    } catch {
      continue;
    }
    if (pkg.name !== 'undici') continue;
    out.push({ version: pkg.version ?? 'unknown', dir, getGlobalDispatcher: ex.getGlobalDispatcher as () => unknown });
  }
  return out;
}
