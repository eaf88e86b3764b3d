/**
 * Runs a fixture to completion on the test's own Node (the runtime under
 * test), with or without the preload, and collects what the app showed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv } from '../telemetry/helpers/fixture-process';

import { FIXTURES, ROOT } from '../helpers/paths';

export { FIXTURES, ROOT };
export const PRELOAD = join(ROOT, 'dist', 'preload', 'index.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runNode(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
  cwd = FIXTURES,
  user?: { uid: number; gid: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      cwd,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...user,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** The fixture's JSON lines (other lines ignored). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function fixture(name: string): string {
  return join(FIXTURES, name);
}
