#!/usr/bin/env node
// The machines' system Node is too old for titan-perf, so the project brings
// the runtimes it supports and tests on: real Node binaries published on the
// npm registry as `node-linux-<arch>`. Each major gets its own prefix because
// every one of those packages claims the same `node` bin name.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// Pinned so a test run is reproducible; bump deliberately.
export const RUNTIMES = { 22: '22.23.3', 24: '24.21.0', 26: '26.12.1' };

const ARCH = { x64: 'x64', arm64: 'arm64' }[process.arch];

export function runtimeBin(major) {
  return join(ROOT, '.runtimes', String(major), 'node_modules', `node-linux-${ARCH}`, 'bin', 'node');
}

export function ensureRuntime(major) {
  const version = RUNTIMES[major];
  if (!version) throw new Error(`unsupported Node major ${major}; supported: ${Object.keys(RUNTIMES).join(', ')}`);
  if (!ARCH || process.platform !== 'linux')
    throw new Error(`no packaged runtime for ${process.platform}/${process.arch}`);
  const bin = runtimeBin(major);
  if (existsSync(bin)) {
    const have = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    if (have === `v${version}`) return bin;
  }
  const prefix = join(ROOT, '.runtimes', String(major));
  process.stderr.write(`titan-perf: installing Node ${version} into ${prefix}\n`);
  execFileSync(
    'npm',
    [
      'install',
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--prefix',
      prefix,
      `node-linux-${ARCH}@${version}`,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, ...majors] = process.argv.slice(2);
  if (cmd === 'install') {
    for (const m of majors.length ? majors : Object.keys(RUNTIMES)) console.log(ensureRuntime(m));
  } else if (cmd === 'path') {
    console.log(runtimeBin(majors[0] ?? 24));
  } else {
    console.error('usage: runtimes.mjs install [22|24|26 ...] | path MAJOR');
    process.exit(2);
  }
}
