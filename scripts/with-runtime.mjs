#!/usr/bin/env node
// Runs a script under one of the project's own runtimes, with that runtime
// first on PATH so child processes the script starts use it too.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { ensureRuntime } from './runtimes.mjs';

const [major, ...rest] = process.argv.slice(2);
const bin = ensureRuntime(major);
const r = spawnSync(bin, rest, {
  stdio: 'inherit',
  env: { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}` },
});
process.exit(r.status ?? 1);
