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

/**
 * FNV-1a over the cache's 32-bit words (a partial last word is left out):
 * V8 checks a cache's header (its version, flags, the source's length) but
 * not every release build checks its payload, and a damaged payload must be
 * refused before V8 reads it. ~0.1 ms for 64 KiB, without loading node:crypto.
 */
export function cacheChecksum(data: Uint8Array): number {
  const words = new Uint32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193) >>> 0;
  return h;
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
  // Copied so that the data starts word-aligned for the checksum.
  const data = Buffer.from(file.subarray(4));
  return file.length > 4 && file.readUInt32LE(0) === cacheChecksum(data) ? data : undefined;
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
