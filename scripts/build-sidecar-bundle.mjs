#!/usr/bin/env node
// Builds the sidecar as one file (dist/sidecar-bundle/sidecar.js) for its
// image: the image then needs Node and logrotate, not npm, a lockfile and
// 60 packages; every exporter the sidecar can use is inside, whichever of
// them the package itself lists as optional.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeThirdPartyLicenses } from './bundle-licenses.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SIDECAR_BUNDLE_DIR = join(ROOT, 'dist', 'sidecar-bundle');

export async function buildSidecarBundle({ outdir = SIDECAR_BUNDLE_DIR } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const result = await build({
    entryPoints: [join(ROOT, 'sidecar', 'cli.ts')],
    outfile: join(outdir, 'sidecar.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    // Notices go to THIRD-PARTY-LICENSES.txt, whole, rather than as comment fragments.
    legalComments: 'none',
    logLevel: 'warning',
    logOverride: { 'unsupported-require-call': 'silent' },
    metafile: true,
  });
  writeThirdPartyLicenses(ROOT, [result.metafile], join(outdir, 'THIRD-PARTY-LICENSES.txt'));
  writeFileSync(
    join(outdir, 'package.json'),
    `${JSON.stringify({ name: 'titan-perf-sidecar', version: pkg.version, private: true, type: 'commonjs', main: 'sidecar.js' }, null, 2)}\n`,
  );
  return { outdir, bytes: statSync(join(outdir, 'sidecar.js')).size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outdir, bytes } = await buildSidecarBundle();
  console.log(`${join(outdir, 'sidecar.js')}  ${(bytes / 1024).toFixed(1)} KiB`);
}
