#!/usr/bin/env node
// The README's test command: lint, build once, then the whole vitest suite on every
// supported Node major (22, 24, 26), each with its runtime first on PATH so the
// processes the tests start run on the same Node. `--node 24` picks majors;
// `--no-system-setup` skips installing system tools; anything else is passed
// to vitest (a file filter, -t NAME).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureRuntime, RUNTIMES, ROOT } from './runtimes.mjs';
import { systemSetup } from './system-setup.mjs';

// Before anything runs: the system tools the tests need, installed where it can (see system-setup.mjs).
const args = systemSetup(process.argv.slice(2), { root: ROOT });
let majors = Object.keys(RUNTIMES);
const i = args.indexOf('--node');
if (i >= 0) {
  majors = args[i + 1].split(',');
  args.splice(i, 2);
}

// House style first: a lint finding fails the run before any suite starts.
const lint = spawnSync('npm', ['run', '--silent', 'lint'], { cwd: ROOT, stdio: 'inherit' });
if (lint.status !== 0) process.exit(lint.status ?? 1);

// The runtimes before the build: it makes the preload's code cache for each one it finds.
const bins = Object.fromEntries(majors.map((major) => [major, ensureRuntime(major)]));
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const results = [];
const totals = { passed: 0, failed: 0, skipped: 0 };
const reportDir = join(ROOT, 'node_modules', '.cache', 'titan-perf-test');
mkdirSync(reportDir, { recursive: true });
for (const major of majors) {
  const bin = bins[major];
  console.log(`\n=== vitest on Node ${RUNTIMES[major]} ===`);
  const report = join(reportDir, `vitest-${major}.json`);
  rmSync(report, { force: true });
  const vitestArgs = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args];
  const r = spawnSync(bin, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), ...vitestArgs], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}` },
  });
  results.push([major, r.status]);
  if (existsSync(report)) {
    const j = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += j.numPassedTests;
    // A hook failure (afterAll) fails the run without failing a test: count it, or the closing line would say 0 failed.
    totals.failed += j.numFailedTests || (r.status !== 0 ? Math.max(1, j.numFailedTestSuites ?? 0) : 0);
    totals.skipped += j.numPendingTests + (j.numTodoTests ?? 0);
  } else if (r.status !== 0) {
    totals.failed += 1; // vitest died before reporting: count the run itself as a failure
  }
}
console.log('\n=== summary ===');
for (const [major, status] of results)
  console.log(`Node ${RUNTIMES[major]}: ${status === 0 ? 'passed' : `FAILED (exit ${status})`}`);
// One plain closing line over all runtimes, for readers that do not know vitest.
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(results.every(([, s]) => s === 0) ? 0 : 1);
