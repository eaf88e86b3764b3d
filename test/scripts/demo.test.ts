// `npm run demo` shows both faces (the preload in an example service, the
// sidecar's plan and, as root, apply/verify/rollback in a namespace of its own)
// and leaves the host as it was: every catalogued sysctl byte for byte, no
// namespace, no temp dir, also after Ctrl-C and after a failing step.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostSysctlSnapshot, ROOT } from '../sidecar/support';

const DEMO = join(ROOT, 'scripts', 'demo.mjs');
const isRoot = process.getuid?.() === 0;

interface Run {
  pid: number;
  out: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (s: NodeJS.Signals) => void;
}

function demo(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [DEMO, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, out: () => out, done, kill: (s) => child.kill(s) };
}

function demoNamespaces(pid: number): string[] {
  if (!isRoot) return [];
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`titan-perf-demo-${pid}-`));
}

function tempDirOf(out: string): string {
  const m = /config: (\S+)\/config\.json/.exec(out);
  expect(m, 'the demo names its temp dir').not.toBeNull();
  return m![1];
}

describe('npm run demo', () => {
  it('shows the preload and the sidecar, and the host sysctls are unchanged', { timeout: 180_000 }, async () => {
    const before = hostSysctlSnapshot();
    const run = demo([]);
    const { code } = await run.done;
    const out = run.out();
    expect(code, out).toBe(0);
    // The preload: live readings, a warning from the induced stalls, the status at the end.
    expect(out).toContain('=== the preload');
    expect(out).toMatch(/^\[ ?\d+s\] +\d+ req \| loop p50/m);
    expect(out).toContain('!! performance-warning');
    expect(out).toContain('status() at the end:');
    // The sidecar: the read-only plan for this machine (the per-namespace keys and the node-wide ones it skips).
    expect(out).toContain('=== the sidecar');
    expect(out).toMatch(/^ +sysctl +net\.core\.somaxconn +\d+ +65535 +(change|ok)/m);
    expect(out).toMatch(/^ +sysctl +vm\.swappiness .* skip +node-wide setting/m);
    // 1: a store could not be planned (no Redis on the host's default address); the table is still there.
    expect(out).toMatch(/\(exit [012]; nothing written\)/);
    if (isRoot) {
      expect(out).toMatch(/applied \d+, failed 0, rolled back 0/);
      expect(out).toContain('in the desired state');
      expect(out).toMatch(/restored sysctl net\.core\.somaxconn = \d+/);
      // A throw-away Redis in the namespace, or one line saying why there is none.
      if (out.includes('Redis: skipped'))
        expect(out).toMatch(/Redis: skipped, redis-server (is not installed|did not accept|exited)/);
      else expect(out).toMatch(/^ +redis +maxmemory +\d+ +2147483648 +change/m);
      expect(out).toMatch(/net\.core\.somaxconn in the namespace: (\d+) -> 65535 -> \1 /);
      expect(out.match(/^ +sysctl +vm\.swappiness /gm)).toHaveLength(1); // in the host's plan only: node-wide keys are left out of the namespace
      expect(existsSync(tempDirOf(out))).toBe(false);
    } else {
      expect(out).toContain('not shown, since this runs as a normal user');
    }
    expect(demoNamespaces(run.pid)).toEqual([]);
    expect(hostSysctlSnapshot()).toEqual(before);
  });

  it.skipIf(!isRoot)(
    'Ctrl-C during the namespace part deletes the namespace, stops its processes and removes the temp dir',
    { timeout: 120_000 },
    async () => {
      const before = hostSysctlSnapshot();
      const run = demo(['--sidecar-only']);
      const until = Date.now() + 90_000;
      while (!/config: \S+ /.test(run.out()) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const tmp = tempDirOf(run.out());
      const [ns] = demoNamespaces(run.pid);
      expect(ns).toBeDefined();
      run.kill('SIGINT');
      const { code } = await run.done;
      expect(run.out()).toContain('SIGINT: cleaning up');
      expect(code).toBe(130);
      expect(demoNamespaces(run.pid)).toEqual([]);
      expect(existsSync(tmp)).toBe(false);
      expect(hostSysctlSnapshot()).toEqual(before);
    },
  );

  it.skipIf(!isRoot)(
    'a failing sidecar step makes the demo fail, and the namespace and temp dir are gone all the same',
    { timeout: 120_000 },
    async () => {
      const before = hostSysctlSnapshot();
      // Below the allowed range: every sidecar command refuses the config (exit 2, nothing touched).
      const run = demo(['--sidecar-only'], { TITAN_PERF_SYSTEM__KERNEL_PARAMS__NET_CORE_SOMAXCONN: '1' });
      const { code } = await run.done;
      const out = run.out();
      expect(out).toMatch(/net\.core\.somaxconn|netCoreSomaxconn/);
      expect(out).toContain('(apply exited 2)');
      expect(code).toBe(1);
      expect(demoNamespaces(run.pid)).toEqual([]);
      expect(existsSync(tempDirOf(out))).toBe(false);
      expect(hostSysctlSnapshot()).toEqual(before);
    },
  );
});
