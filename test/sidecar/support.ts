/**
 * Real parts for the sidecar tests: network namespaces made here (never the
 * host's own sysctls), fake procfs trees in temp dirs for node-wide keys, and
 * the built CLI run as a child process on the runtime vitest runs on.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { SYSCTL_CATALOGUE } from '../../dist/src/config/sysctl-catalogue.js';

import { ROOT } from '../helpers/paths';
import { waitFor } from '../helpers/wait';

export { ROOT, waitFor };
export const CLI = join(ROOT, 'dist/sidecar/cli.js');
export const NODE = process.execPath;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the sidecar CLI (inside `netns` when given) and collects its output. */
export function runCli(
  args: string[],
  opts: { netns?: string; env?: Record<string, string>; timeout?: number } = {},
): Promise<CliResult> {
  const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, NODE, CLI, ...args]] : [NODE, [CLI, ...args]];
  return new Promise((resolve) => {
    execFile(
      cmd,
      argv,
      { env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

/** Starts the CLI as a long-running child (daemon, paused apply). */
export function startCli(args: string[], opts: { netns?: string; env?: Record<string, string> } = {}): ChildProcess {
  const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, NODE, CLI, ...args]] : [NODE, [CLI, ...args]];
  return spawn(cmd, argv, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function createNetns(): string {
  const name = `tp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name]);
  } catch {
    // Already gone.
  }
}

/** `sysctl -n` inside the namespace: an independent reader, not the store under test. */
export function nsSysctl(ns: string, key: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-n', key], { encoding: 'utf8' }).trim();
}

export function nsSysctlWrite(ns: string, key: string, value: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/** The host's raw bytes for every catalogued key (missing keys as null), to prove tests leave them alone. */
export function hostSysctlSnapshot(): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const spec of SYSCTL_CATALOGUE as { key: string }[]) {
    try {
      out[spec.key] = readFileSync(join('/proc/sys', ...spec.key.split('.')), 'latin1');
    } catch {
      out[spec.key] = null;
    }
  }
  return out;
}

/**
 * The host-snapshot check around a test file that can touch kernel settings:
 * every catalogued host value is compared byte for byte after the file ran,
 * and the namespaces it made through `newNs` are deleted first.
 */
export function guardHost(): { newNs(): string } {
  const namespaces: string[] = [];
  let before: Record<string, string | null>;
  beforeAll(() => {
    before = hostSysctlSnapshot();
  });
  afterAll(() => {
    for (const ns of namespaces) deleteNetns(ns);
    // The point of namespaces: the host never saw any of it.
    expect(hostSysctlSnapshot()).toEqual(before);
  });
  return {
    newNs() {
      const ns = createNetns();
      namespaces.push(ns);
      return ns;
    },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `titan-perf-${prefix}-`));
}

/** A procfs-shaped tree: `<root>/sys/<key as path>` holding each value. */
export function fakeProcRoot(values: Record<string, string>): string {
  const root = tempDir('proc');
  for (const [key, value] of Object.entries(values)) writeFakeSysctl(root, key, value);
  return root;
}

export function writeFakeSysctl(root: string, key: string, value: string): void {
  const path = join(root, 'sys', ...key.split('.'));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${value}\n`);
}

export function readFakeSysctl(root: string, key: string): string {
  return readFileSync(join(root, 'sys', ...key.split('.')), 'utf8').trim();
}

export function writeJson(dir: string, name: string, data: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(data));
  return path;
}

/** Collects a child's stdout/stderr as it arrives. */
export function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { out: () => out, err: () => err };
}

/** Resolves once the child has exited and its output pipes are drained ('close', not 'exit'). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const drained = !child.stdout?.readable && !child.stderr?.readable;
  if ((child.exitCode !== null || child.signalCode !== null) && drained)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

/** A config with Redis off, so sysctl and logrotate tests never wait on a Redis that is not there. */
export function baseConfig(system: Record<string, unknown> = {}): Record<string, unknown> {
  return { redis: { enabled: false }, system };
}
