#!/usr/bin/env node
// Builds the preload's start path (dist/preload/start-path.js) as one file
// holding every module the preload runs before the app's first line and
// during a short job: the agent, its probes, the fetch and http tuners. The
// package's `titan-perf/preload` entry (dist/preload/index.js, from
// preload/start-path-loader.ts) loads it with V8's code cache, made here for
// every Node runtime the project has (dist/preload/code-cache/).
// Every other module of titan-perf (configuration parsing, telemetry, the
// score, the watchdog...) stays a file of its own under dist/src, required
// from there the first time it is needed, and every package stays external.
//
// Why: the preload is paid by every process that starts with it, however
// short. Loaded as its 12 separate files, resolving, reading and compiling
// each one cost ~7 ms of wall time and ~10 ms of CPU per process start
// (Node 24, quiet machine; bench part `shortjob`). One file of the start path
// (~75 KB) costs a fraction of that; one file of everything (~200 KB) costs
// its compile instead, most of the gain lost.
//
// A module in both places (inlined here, and required from dist/src by a
// module that loads later, e.g. self-time by the telemetry) exists twice in
// the process. The modules of the start path are written for that: what must
// be one per process lives in a Symbol.for slot (agent-slot, self-time).
// test/preload/start-path.test.ts checks that a short job loads no other
// titan-perf file, so this list cannot go stale unnoticed.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNTIMES, runtimeBin } from './runtimes.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'preload', 'index.ts');
const PRELOAD_DIR = join(ROOT, 'dist', 'preload');
export const PRELOAD_ENTRY = join(PRELOAD_DIR, 'index.js');
export const START_PATH_FILE = join(PRELOAD_DIR, 'start-path.js');

/** The modules the preload loads before the app's main module and in its first loop turns (source paths). */
export const START_PATH = [
  'preload/index.ts',
  'src/runtime/agent-slot.ts',
  'src/runtime/agent.ts',
  'src/runtime/fetch-tuner.ts',
  'src/runtime/self-time.ts',
  'src/runtime/cpu-wait.ts',
  'src/runtime/event-loop-probe.ts',
  'src/runtime/gc-probe.ts',
  'src/runtime/heap-probe.ts',
  'src/runtime/http-agent-tuner.ts',
  'src/config/sections/nodejs.ts',
  'src/config/sections/telemetry.ts',
  'src/telemetry/source.ts',
];

/** Every titan-perf module off the start path becomes a require of its tsc output, relative to the entry. */
function startPathOnly() {
  const inline = new Set(START_PATH);
  return {
    name: 'start-path-only',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, async (a) => {
        if (a.pluginData === 'inner') return undefined;
        const r = await b.resolve(a.path, { resolveDir: a.resolveDir, kind: a.kind, pluginData: 'inner' });
        if (r.errors.length > 0) return undefined;
        const source = relative(ROOT, r.path);
        if (inline.has(source)) return undefined;
        const built = join(ROOT, 'dist', source.replace(/\.ts$/, '.js'));
        return { path: relative(dirname(PRELOAD_ENTRY), built), external: true };
      });
    },
  };
}

export async function buildPreloadEntry() {
  const result = await build({
    entryPoints: [ENTRY],
    outfile: START_PATH_FILE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // Parses on Node 20 too, so that an app on an old Node gets the preload's own "inactive" line.
    target: 'node20',
    packages: 'external',
    // Not minified: the size of the parse is in the tokens, not the names (measured: no gain),
    // and a fault report from the preload should name readable functions.
    minify: false,
    logLevel: 'warning',
    metafile: true,
    plugins: [startPathOnly()],
  });
  const inlined = Object.keys(result.metafile.inputs);
  const missing = START_PATH.filter((m) => !inlined.includes(m));
  // A start-path module nobody imports any more would otherwise stay listed for nothing.
  if (missing.length > 0) throw new Error(`not on the preload's start path any more: ${missing.join(', ')}`);
  // The entry is the loader (tsc's output of preload/start-path-loader.ts), not tsc's preload/index.js.
  copyFileSync(join(PRELOAD_DIR, 'start-path-loader.js'), PRELOAD_ENTRY);
  return { file: START_PATH_FILE, bytes: result.metafile.outputs[relative(process.cwd(), START_PATH_FILE)]?.bytes };
}

/**
 * Runs the start path once in `node` (a throwaway process: the agent starts,
 * settles, and its unref'd timers let the process end) and keeps V8's code
 * for it, the functions it ran included. The text compiled is the loader's
 * own wrapStartPath(), so the cache matches what the loader compiles.
 */
const MAKE_CACHE = `
const fs = require('node:fs'), vm = require('node:vm'), path = require('node:path'), zlib = require('node:zlib'), { createRequire } = require('node:module');
const dir = process.argv[1];
process.env.TITAN_PERF_CODE_CACHE_BUILD = '1';
const { wrapStartPath } = require(path.join(dir, 'index.js'));
delete process.env.TITAN_PERF_CODE_CACHE_BUILD;
const file = path.join(dir, 'start-path.js');
const script = new vm.Script(wrapStartPath(fs.readFileSync(file, 'utf8')), { filename: file });
const m = { exports: {} };
script.runInThisContext().call(m.exports, m.exports, createRequire(file), m, file, dir);
setTimeout(() => {
  const out = path.join(dir, 'code-cache', process.versions.v8 + '-' + process.arch + '.bin');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const data = script.createCachedData();
  const sum = Buffer.alloc(4);
  // What the loader checks the payload against before V8 reads it.
  sum.writeUInt32LE(zlib.crc32(data));
  fs.writeFileSync(out, Buffer.concat([sum, data]));
  console.log(out);
}, 50);
`;

export function buildCodeCaches() {
  const made = [];
  for (const major of Object.keys(RUNTIMES)) {
    const bin = runtimeBin(major);
    if (!existsSync(bin)) continue;
    const r = spawnSync(bin, ['-e', MAKE_CACHE, PRELOAD_DIR], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', OTEL_METRICS_EXPORTER: 'none' },
      timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`code cache on Node ${major}: ${r.stderr || r.error?.message}`);
    made.push(r.stdout.trim());
  }
  return made;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { file, bytes } = await buildPreloadEntry();
  console.log(`${file}  ${bytes === undefined ? '' : `${(bytes / 1024).toFixed(1)} KiB`}`);
  const caches = buildCodeCaches();
  const dir = join(PRELOAD_DIR, 'code-cache');
  console.log(
    caches.length > 0
      ? `${dir}: ${readdirSync(dir).join(', ')}`
      : 'no Node runtime installed (node scripts/runtimes.mjs install): the preload compiles without a code cache',
  );
}
