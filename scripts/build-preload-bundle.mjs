#!/usr/bin/env node
// Builds the zero-install preload: one folder (dist/preload-bundle/) that an
// app with no titan-perf dependency loads with
//   NODE_OPTIONS="--require /titan-perf/preload.js"   (or --import, same file)
// Everything the preload may load is in the folder, the OpenTelemetry SDK and
// its exporters included, split in a few files so that a process parses only
// what it uses (esbuild's own splitting needs ESM output, which a --require
// preload cannot load). Sizes and start-up: bench/preload-bundle.mjs.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { writeThirdPartyLicenses } from './bundle-licenses.mjs';
import { fileURLToPath } from 'node:url';
import { START_PATH } from './build-preload-entry.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_DIR = join(ROOT, 'dist', 'preload-bundle');

/**
 * Which file a bundled module goes to. The preload's start path (the agent,
 * its probes and tuners: START_PATH) is preload.js; the rest of titan-perf's
 * own code (configuration parsing, telemetry, the score...) is titan-perf.js;
 * the configuration schema (read only when TITAN_PERF_* is set), the
 * OpenTelemetry SDK (read only when export is on) and the gRPC transport
 * (only for OTLP over gRPC) are files of their own. Each is parsed only when
 * first needed: in one file, the parse of ~1 MB cost every process start-up.
 */
const CHUNKS = [
  // First: it asks the files below for the packages it uses.
  { file: 'titan-perf.js', own: true },
  {
    file: 'otel-grpc.js',
    packages:
      /^(@grpc\/|@opentelemetry\/(exporter-metrics-otlp-grpc|otlp-grpc-exporter-base)$|@js-sdsl\/|lodash\.camelcase$|long$|protobufjs$|@protobufjs\/)/,
  },
  { file: 'otel.js', packages: /^@opentelemetry\// },
  { file: 'config.js', packages: /^(yaml|valibot)$/ },
];

function chunkOf(path) {
  const m = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (!m) return 'preload.js';
  return CHUNKS.find((c) => c.packages?.test(m[1]))?.file ?? 'preload.js';
}

/**
 * In preload.js, titan-perf's own modules off the start path become lazy
 * references into titan-perf.js (the way packages go to their files), so that
 * every process start parses the start path only. Elsewhere (the watchdog's
 * thread, titan-perf.js itself) own modules are inlined: a module on the start
 * path may then exist twice, which those modules are written for (their
 * per-process state lives in Symbol.for slots).
 */
function ownSplitPlugin(wanted) {
  const inline = new Set(START_PATH);
  return {
    name: 'split-own-modules',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, async (a) => {
        if (a.namespace === 'chunk-ref' || a.pluginData === 'inner') return undefined;
        const r = await b.resolve(a.path, { resolveDir: a.resolveDir, kind: a.kind, pluginData: 'inner' });
        if (r.errors.length || r.path.includes('/node_modules/')) return undefined;
        const key = relative(ROOT, r.path);
        if (inline.has(key)) return undefined;
        (wanted.get('titan-perf.js') ?? wanted.set('titan-perf.js', new Set()).get('titan-perf.js')).add(key);
        return { path: key, namespace: 'chunk-ref', pluginData: 'titan-perf.js' };
      });
    },
  };
}

/**
 * A module that belongs to another file becomes `require('./that-file.js')[key]`;
 * that file's entry is a table of lazy getters, one per key asked for, so each
 * module still runs only when first required, and exists once per process.
 */
function splitPlugin(current, wanted) {
  return {
    name: 'split-by-file',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (a) => {
        if (a.namespace === 'chunk-ref' || a.pluginData === 'inner' || a.path.startsWith('node:')) return undefined;
        const r = await b.resolve(a.path, { resolveDir: a.resolveDir, kind: a.kind, pluginData: 'inner' });
        if (r.errors.length || r.external || !r.path.includes('/node_modules/')) return undefined;
        const owner = chunkOf(r.path);
        if (owner === current) return undefined;
        const key = relative(ROOT, r.path);
        (wanted.get(owner) ?? wanted.set(owner, new Set()).get(owner)).add(key);
        return { path: key, namespace: 'chunk-ref', pluginData: owner };
      });
      b.onLoad({ filter: /.*/, namespace: 'chunk-ref' }, (a) => ({
        contents: `module.exports = require('./${a.pluginData}')[${JSON.stringify(a.path)}];`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^\.\/[a-z-]+\.js$/, namespace: 'chunk-ref' }, (a) => ({ path: a.path, external: true }));
    },
  };
}

export async function buildPreloadBundle({ outdir = BUNDLE_DIR, minify = true } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const common = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // Parses on Node 20 too, so that an app on an old Node gets the preload's own "inactive" line, not a SyntaxError.
    target: 'node20',
    minify,
    // Notices go to THIRD-PARTY-LICENSES.txt, whole, rather than as comment fragments.
    legalComments: 'none',
    logLevel: 'warning',
    // The SDK warm-up requires package names it computes: in the bundle they load with the SDK file instead.
    logOverride: { 'unsupported-require-call': 'silent' },
    metafile: true,
  };
  const metafiles = [];
  const wanted = new Map();
  const built = new Map();
  const core = await build({
    ...common,
    entryPoints: [join(ROOT, 'preload', 'index.ts')],
    outfile: join(outdir, 'preload.js'),
    plugins: [ownSplitPlugin(wanted), splitPlugin('preload.js', wanted)],
  });
  metafiles.push(core.metafile);
  // The stall watchdog's thread runs a file of its own, found next to the preload (src/runtime/watchdog.ts).
  const watchdog = await build({
    ...common,
    entryPoints: [join(ROOT, 'src', 'runtime', 'watchdog-worker.ts')],
    outfile: join(outdir, 'watchdog-worker.js'),
    plugins: [splitPlugin('watchdog-worker.js', wanted)],
  });
  metafiles.push(watchdog.metafile);
  // Each file after the ones that ask for its modules (grpc asks otel.js for the SDK).
  for (const chunk of CHUNKS) {
    const keys = [...(wanted.get(chunk.file) ?? [])].sort();
    if (keys.length === 0) continue;
    built.set(chunk.file, keys.length);
    const table = keys
      .map((k) => `  get ${JSON.stringify(k)}() { return require(${JSON.stringify(join(ROOT, k))}); },`)
      .join('\n');
    const part = await build({
      ...common,
      stdin: { contents: `module.exports = {\n${table}\n};\n`, resolveDir: ROOT, sourcefile: chunk.file, loader: 'js' },
      outfile: join(outdir, chunk.file),
      plugins: [splitPlugin(chunk.file, wanted)],
    });
    metafiles.push(part.metafile);
  }
  for (const [file, keys] of wanted) {
    if (keys.size !== built.get(file))
      throw new Error(`${file} was built before every file that needs it: reorder CHUNKS`);
  }
  writeThirdPartyLicenses(ROOT, metafiles, join(outdir, 'THIRD-PARTY-LICENSES.txt'));
  // The folder is its own package scope: the files are CommonJS whatever the app's package.json says.
  writeFileSync(
    join(outdir, 'package.json'),
    `${JSON.stringify({ name: 'titan-perf-preload', version: pkg.version, private: true, type: 'commonjs', main: 'preload.js' }, null, 2)}\n`,
  );
  return { outdir, files: readdirSync(outdir).map((f) => ({ file: f, bytes: statSync(join(outdir, f)).size })) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outdir, files } = await buildPreloadBundle({ minify: !process.argv.includes('--no-minify') });
  for (const f of files) console.log(`${join(outdir, f.file)}  ${(f.bytes / 1024).toFixed(1)} KiB`);
}
