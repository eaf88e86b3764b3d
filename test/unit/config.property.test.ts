/**
 * Property tests of the config parser: whatever objects, files or TITAN_PERF_*
 * values arrive, the parser returns a valid config or a coded ConfigError whose
 * every issue names a field and what is allowed; it never crashes with
 * anything else, and what it returns validates again unchanged.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_PERFORMANCE_CONFIG, resolveConfig, validateConfig } from '../../dist/src/index.js';
import { tempDir } from '../sidecar/support';

/** Every leaf path of the defaults, e.g. ['nodejs', 'connectionPooling', 'maxConnections']. */
function leaves(x: unknown, prefix: string[] = []): string[][] {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return [prefix];
  return Object.entries(x).flatMap(([k, v]) => leaves(v, [...prefix, k]));
}
const PATHS = leaves(DEFAULT_PERFORMANCE_CONFIG).filter((p) => p.length > 0);

const hostile = fc.oneof(
  fc.anything({
    withNullPrototype: true,
    withObjectString: true,
    withBigInt: true,
    withDate: true,
    withMap: true,
    withTypedArray: true,
    withSparseArray: true,
  }),
  fc.constantFrom(
    '__proto__',
    'constructor',
    '99999999999999999999999gb',
    '\u0000',
    '/var/log/a\nb',
    -0,
    Number.NaN,
    Infinity,
    2 ** 53,
    '',
  ),
  fc.string(),
  fc.integer(),
);

/** A config object: some real fields set to hostile values, plus stray keys, at any depth. */
const configObject = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...PATHS), hostile), { maxLength: 6 }),
    fc.array(
      fc.tuple(
        fc.array(
          fc.constantFrom('nodejs', 'redis', 'system', 'x', '__proto__', 'constructor', 'prototype', 'logRotation'),
          { minLength: 1, maxLength: 3 },
        ),
        hostile,
      ),
      { maxLength: 3 },
    ),
  )
  .map(([real, stray]) => {
    const out: Record<string, unknown> = {};
    for (const [path, value] of [...real, ...stray]) {
      let cur = out;
      for (const k of path.slice(0, -1)) {
        // Own properties only: `cur.__proto__` would walk the generator itself into Object.prototype.
        if (!Object.hasOwn(cur, k) || typeof cur[k] !== 'object' || cur[k] === null)
          Object.defineProperty(cur, k, { value: {}, enumerable: true, writable: true, configurable: true });
        cur = cur[k] as Record<string, unknown>;
      }
      Object.defineProperty(cur, path[path.length - 1], {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  });

function check(run: () => unknown): void {
  let config: unknown;
  try {
    config = run();
  } catch (err) {
    expect(err, String((err as Error)?.stack)).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.code).toBe('TITAN_PERF_CONFIG_INVALID');
    expect(e.issues.length).toBeGreaterThan(0);
    for (const issue of e.issues) {
      expect(typeof issue.path).toBe('string');
      expect(typeof issue.expected).toBe('string');
      expect(issue.expected.length).toBeGreaterThan(0);
      expect(e.message).toContain(issue.path || '(root)');
    }
    return;
  }
  // A valid config validates again to itself.
  expect(validateConfig(config)).toEqual(config);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

describe('config parser properties', () => {
  it('config objects from code: a valid config or a coded error naming each field', () => {
    fc.assert(
      fc.property(configObject, (code) =>
        check(() => resolveConfig({ env: {}, file: null, code, strict: true }).config),
      ),
      { numRuns: 400 },
    );
  });

  it('the lenient mode (the preload) never throws and always returns a valid config', () => {
    fc.assert(
      fc.property(configObject, (code) => {
        const { config, issues } = resolveConfig({ env: {}, file: null, code });
        expect(validateConfig(config)).toEqual(config);
        for (const i of issues) expect(typeof i.path).toBe('string');
      }),
      { numRuns: 300 },
    );
  });

  it('TITAN_PERF_* values: a valid config or a coded error naming the variable', () => {
    const names = PATHS.map(
      (p) => `TITAN_PERF_${p.map((s) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('__')}`,
    );
    const envValue = fc.oneof(
      fc.string(),
      fc.json(),
      fc.constantFrom(
        'true',
        '1e999',
        '[1,2',
        '{"__proto__":{"x":1}}',
        '{"kernel.core_pattern":"|/x"}',
        '99999999999999999999999gb',
      ),
    );
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(
            fc.constantFrom(...names),
            fc.string().map((s) => `TITAN_PERF_${s}`),
          ),
          envValue,
          { maxKeys: 5 },
        ),
        (env) => {
          try {
            resolveConfig({ env, file: null, strict: true });
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            for (const issue of (err as ConfigError).issues) {
              if (issue.path !== 'profile' && issue.path !== '')
                expect(Object.keys(env), JSON.stringify(issue)).toContain(issue.source);
            }
            return;
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('config file bytes: a valid config or a coded error naming the file', () => {
    const dir = tempDir('cfg-prop');
    let n = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.json().map((s) => new TextEncoder().encode(s)),
        ),
        fc.constantFrom('.json', '.yaml'),
        (bytes, ext) => {
          const file = join(dir, `c${n++}${ext}`);
          writeFileSync(file, bytes);
          check(() => resolveConfig({ env: { TITAN_PERF_CONFIG: file }, strict: true }).config);
        },
      ),
      { numRuns: 300 },
    );
  });
});
