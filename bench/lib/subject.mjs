// What is measured: the built library in dist/ and the anchors installed in
// bench/'s own package. Each part asks here whether its subject exists, so a
// part whose subject has not landed yet reports "not measured" instead of a number.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(BENCH, '..');
export const FIXTURES = join(BENCH, 'fixtures');
export const PRELOAD = join(ROOT, 'dist', 'preload', 'index.js');
export const LIBRARY = join(ROOT, 'dist', 'src', 'index.js');
export const SIDECAR = join(ROOT, 'dist', 'sidecar', 'cli.js');

export const hasPreload = () => existsSync(PRELOAD);
export const hasSidecar = () => existsSync(SIDECAR);

/** The anchors: what a user would pick instead of titan-perf, each loaded by a tiny --require file. */
export const ANCHORS = {
  'prom-client': { label: 'prom-client default metrics', packages: ['prom-client'], file: 'anchor-prom-client.cjs' },
  'otel-runtime': {
    label: 'OTel runtime-node + metrics SDK',
    packages: ['@opentelemetry/sdk-metrics', '@opentelemetry/instrumentation-runtime-node'],
    file: 'anchor-otel-runtime.cjs',
  },
  'otel-nodesdk': {
    label: 'OTel NodeSDK + runtime-node',
    packages: ['@opentelemetry/sdk-node', '@opentelemetry/instrumentation-runtime-node'],
    file: 'anchor-otel-nodesdk.cjs',
  },
  'dd-trace': { label: 'dd-trace runtime metrics', packages: ['dd-trace'], file: 'anchor-dd-trace.cjs' },
};

export function anchorInstalled(id) {
  return ANCHORS[id].packages.every((p) => existsSync(join(BENCH, 'node_modules', p, 'package.json')));
}

/**
 * The environment every measured process starts from: the harness's own
 * NODE_OPTIONS, TITAN_PERF_* and OTEL_* settings must not leak into a variant.
 */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('TITAN_PERF_') || k.startsWith('OTEL_') || k.startsWith('DD_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
