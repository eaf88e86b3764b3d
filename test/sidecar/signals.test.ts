/**
 * SIGTERM during the daemon's first pass: the handlers are installed before
 * the pass, so the signal is honoured and the pass is finished (or cut short
 * after system.daemon.shutdownGrace) and rolled back when rollback-on-exit is
 * set. As PID 1 (the container's ENTRYPOINT) a signal without a handler is
 * dropped by the kernel; the test runs the daemon as PID 1 of a new PID
 * namespace, inside a network namespace of its own. The first pass is slowed
 * down with the test-only TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS hook.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEvents } from './daemon-support';
import { baseConfig, CLI, collect, exited, guardHost, NODE, nsSysctl, tempDir, waitFor, writeJson } from './support';

const KEYS = ['net.core.somaxconn', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout'];
const host = guardHost();

function childPid(parent: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
    return text ? Number(text.split(' ')[0]) : undefined;
  } catch {
    return undefined;
  }
}

async function sigtermDuringFirstPass(pid1: boolean) {
  const ns = host.newNs();
  const dir = tempDir('sigterm');
  const config = writeJson(dir, 'config.json', baseConfig());
  const originals = Object.fromEntries(KEYS.map((k) => [k, nsSysctl(ns, k)]));
  const daemon = [
    NODE,
    CLI,
    'run',
    '--config',
    config,
    '--state-dir',
    join(dir, 'state'),
    '--listen',
    '127.0.0.1:0',
    '--interval',
    '60000',
    '--rollback-on-exit',
  ];
  const argv = pid1
    ? ['netns', 'exec', ns, 'unshare', '--pid', '--fork', '--mount-proc', ...daemon]
    : ['netns', 'exec', ns, ...daemon];
  const child = spawn('ip', argv, {
    env: { ...process.env, TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS: '4000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = collect(child);
  try {
    await waitFor('the first pass to hold after its journal write', () => {
      if (child.exitCode !== null) throw new Error(`exited early: ${io.err()}`);
      return io.err().includes('test delay after journal');
    });
    // `ip netns exec` execs unshare, whose forked child is PID 1 of the new namespace.
    const target = pid1 ? childPid(child.pid!) : child.pid!;
    expect(target).toBeGreaterThan(0);
    if (pid1) expect(readFileSync(`/proc/${target}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    process.kill(target!, 'SIGTERM');
    const exit = await Promise.race([exited(child), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    expect(exit, `the daemon ignored SIGTERM: ${io.out()}${io.err()}`).not.toBeNull();
    const events = parseEvents(io.out());
    expect(events.find((e) => e.event === 'stopping')).toMatchObject({ signal: 'SIGTERM' });
    expect(events.find((e) => e.event === 'rollback')).toMatchObject({ failed: [] });
    expect(exit!.code, io.err()).toBe(0);
    for (const k of KEYS) expect(nsSysctl(ns, k), k).toBe(originals[k]);
  } finally {
    if (child.exitCode === null) {
      const t = pid1 ? childPid(child.pid!) : undefined;
      if (t) process.kill(t, 'SIGKILL');
      child.kill('SIGKILL');
    }
  }
}

describe('SIGTERM during the first pass', () => {
  it('is honoured: the pass finishes, rollback-on-exit restores the originals, exit 0', async () => {
    await sigtermDuringFirstPass(false);
  });

  it('as PID 1 of a PID namespace (the container ENTRYPOINT): the signal is not lost', async () => {
    await sigtermDuringFirstPass(true);
  });
});
