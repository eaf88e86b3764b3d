/**
 * The package's `titan-perf/preload` entry (built to dist/preload/index.js):
 * loads the preload's start path, dist/preload/start-path.js, compiled from
 * V8's code cache when the package holds one for the running V8.
 *
 * Why: compiling the start path (~75 KB) and the functions it runs was ~2 ms
 * of the ~8 ms the preload adds to every process start (Node 24, quiet
 * machine, `node -e 0`; bench part `shortjob`). The build writes one cache
 * per Node it has (dist/preload/code-cache/<V8 version>-<arch>.bin, made
 * by running the start path once in that Node). Another V8, other V8
 * flags, a missing or damaged file: V8 rejects the cache or there is none,
 * and the file compiles as it would without it. Nothing is ever written at
 * run time. The cache holds no more than the file it was made from, and both
 * sit in the same package directory.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

const START_PATH = join(__dirname, 'start-path.js');
const MAX_CACHE_BYTES = 4 * 1024 * 1024;
/** What became of the cache in this process ('used', 'rejected', 'none'): for tests and for a user asking why. */
const CACHE_STATE = Symbol.for('titan-perf.preload-code-cache');
/** The CommonJS wrapper, as Node's loader puts it around a file. The build's cache is made of the same text. */
export const wrapStartPath = (source: string) =>
  `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;

/** Node's own warning for process.binding() is printed only when pending deprecations are. */
function pendingDeprecation(): boolean {
  return (
    process.execArgv.includes('--pending-deprecation') ||
    /(^|\s)--pending-deprecation(\s|$)/.test(process.env.NODE_OPTIONS ?? '') ||
    process.env.NODE_PENDING_DEPRECATION === '1'
  );
}

/**
 * The CRC-32 of the cache's payload, as zlib computes it (the build writes it
 * with zlib.crc32): V8 checks a cache's header (its version, flags, the
 * source's length) but a release build does not check its payload (a flipped
 * bit was used, tried here), and a damaged payload must be refused before V8
 * reads it. Computed natively through Node's zlib binding, the one Node's own
 * compile cache checks its files with: 0.1 ms for 64 KiB. Loading node:zlib
 * costs 2-3 ms, and a checksum loop in JavaScript over 64 KiB is hot enough
 * for V8 to optimize it on a helper thread: that cost ~3.5 ms of CPU and
 * mapped ~6 MiB of the node binary's optimizing compilers into every process
 * (measured with `node -e 0`, Node 24). Undefined where the binding is not
 * to be had or would print a deprecation warning: then no cache is used.
 */
function nativeCrc32(): ((data: Uint8Array) => number) | undefined {
  if (pendingDeprecation()) return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): { crc32?: unknown } }).binding('zlib');
    const crc32 = binding.crc32;
    if (typeof crc32 !== 'function') return undefined;
    return (data) => (crc32 as (data: Uint8Array, value: number) => number)(data, 0) >>> 0;
  } catch {
    return undefined;
  }
}

/** The cache for the running V8: a 4-byte checksum (little-endian), then V8's data. */
function cachedData(): Buffer | undefined {
  let file: Buffer;
  try {
    const path = join(__dirname, 'code-cache', `${process.versions.v8}-${process.arch}.bin`);
    // A cache is a regular file of ~65 KiB: a FIFO or a device (size 0) could block or never end,
    // and anything far larger is not one; neither is read into every process.
    const st = statSync(path);
    if (!st.isFile() || st.size > MAX_CACHE_BYTES) return undefined;
    file = readFileSync(path);
  } catch {
    return undefined;
  }
  const crc32 = nativeCrc32();
  if (!crc32 || file.length <= 4) return undefined;
  const data = file.subarray(4);
  return file.readUInt32LE(0) === crc32(data) ? data : undefined;
}

function compile(): ((...args: unknown[]) => void) | undefined {
  try {
    const cache = cachedData();
    const script = new Script(wrapStartPath(readFileSync(START_PATH, 'utf8')), {
      filename: START_PATH,
      cachedData: cache,
    });
    (globalThis as Record<symbol, unknown>)[CACHE_STATE] = !cache
      ? 'none'
      : script.cachedDataRejected
        ? 'rejected'
        : 'used';
    return script.runInThisContext();
  } catch {
    return undefined;
  }
}

// The build makes its caches with TITAN_PERF_CODE_CACHE_BUILD set: then only wrapStartPath is wanted.
if (!process.env.TITAN_PERF_CODE_CACHE_BUILD) {
  const run = compile();
  if (run) run.call(module.exports, module.exports, createRequire(START_PATH), module, START_PATH, __dirname);
  else module.exports = require('./start-path.js');
}
