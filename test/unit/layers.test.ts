/**
 * Layers point down: a module may import from its own layer or a lower one,
 * never from a layer above it. The order is the one docs/api.md and the
 * README's layout picture describe, so the code reads top to bottom the same.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';

/** Lowest first. A path matches the first entry it starts with. */
const LAYERS = [
  ['src/errors.ts', 'src/arguments.ts', 'src/optional-package.ts', 'src/trusted-files.ts'],
  ['src/engine/'],
  ['src/config/'],
  ['src/runtime/'],
  ['src/system/'],
  ['src/redis/'],
  ['src/score/'],
  ['src/telemetry/'],
  ['src/pools/'],
  ['src/wiring/'],
  ['src/optimizers/'],
  ['src/performance-optimizer.ts'],
  ['src/index.ts'],
  ['preload/', 'sidecar/'],
];

function layerOf(file: string): number {
  const i = LAYERS.findIndex((prefixes) => prefixes.some((p) => file === p || file.startsWith(p)));
  if (i < 0) throw new Error(`${file} belongs to no layer: add it to LAYERS`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Relative specifiers of static imports, re-exports, require() and import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)) + '.ts');
}

describe('import directions', () => {
  const files = [...sources('src'), ...sources('preload'), ...sources('sidecar')];

  it('every module is in a layer', () => {
    for (const f of files) expect(() => layerOf(f), f).not.toThrow();
  });

  it('no module imports from a layer above its own', () => {
    const upward: string[] = [];
    for (const f of files) {
      for (const target of importsOf(f)) {
        if (!target.startsWith('src/') && !target.startsWith('preload/') && !target.startsWith('sidecar/')) continue;
        if (layerOf(target) > layerOf(f)) upward.push(`${f} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
