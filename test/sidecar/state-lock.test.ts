/**
 * One operation at a time per state directory, across processes. The race:
 * a rollback that runs between an apply's journal write and its setting
 * writes restored and forgot the originals, the apply then wrote, and the
 * originals were lost. Reproduced in a network namespace with the test-only
 * TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS hook, which holds the apply there.
 * Also: a bounded wait with a clear message, and stale locks (kill -9, a pid
 * now used by another process) that never block forever.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseConfig,
  collect,
  exited,
  fakeProcRoot,
  guardHost,
  nsSysctl,
  readFakeSysctl,
  runCli,
  startCli,
  tempDir,
  waitFor,
  writeJson,
} from './support';

const KEYS = ['net.core.somaxconn', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout'];
const host = guardHost();

function journal(state: string): { key: string; original: string }[] {
  try {
    return JSON.parse(readFileSync(join(state, 'journal.json'), 'utf8')).entries;
  } catch {
    return [];
  }
}

async function startHeldApply(args: string[], env: Record<string, string>, netns?: string) {
  const child = startCli(['apply', ...args], { netns, env });
  const io = collect(child);
  await waitFor('the apply to journal and hold', () => {
    if (child.exitCode !== null) throw new Error(`apply exited ${child.exitCode} early: ${io.err()}`);
    return /test (delay|pause) after journal/.test(io.err());
  });
  return { child, io };
}

describe('one operation at a time per state directory', () => {
  it('in a network namespace: a rollback during an apply waits for it, and no original is lost', async () => {
    const ns = host.newNs();
    const dir = tempDir('race');
    const state = join(dir, 'state');
    const config = writeJson(dir, 'config.json', baseConfig());
    const originals = Object.fromEntries(KEYS.map((k) => [k, nsSysctl(ns, k)]));
    const args = ['--config', config, '--state-dir', state];

    const apply = await startHeldApply(args, { TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS: '3000' }, ns);
    // Between the journal write and the first setting write: exactly where the originals used to be lost.
    expect(journal(state).find((e) => e.key === 'net.core.somaxconn')?.original).toBe(originals['net.core.somaxconn']);
    const started = Date.now();
    const rollback = await runCli(['rollback', '--json', ...args], { netns: ns });
    const waited = Date.now() - started;
    const applied = await exited(apply.child);
    expect(applied.code, apply.io.err()).toBe(0);
    expect(rollback.code, rollback.stderr).toBe(0);
    // The rollback ran after the apply's writes: it restored them, and the journal is empty.
    expect(JSON.parse(rollback.stdout).restored.map((r: { key: string }) => r.key)).toEqual(
      expect.arrayContaining(KEYS),
    );
    for (const k of KEYS) expect(nsSysctl(ns, k), k).toBe(originals[k]);
    expect(journal(state)).toEqual([]);
    console.log(`rollback waited ${waited} ms for the apply holding the state directory`);
  });

  it('a second operation waits a bounded time, then fails naming the holder; after kill -9 of the holder the lock is taken over at once', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '128', 'net.ipv4.tcp_fin_timeout': '60' });
    const dir = tempDir('lock-wait');
    const state = join(dir, 'state');
    const config = writeJson(dir, 'config.json', baseConfig());
    const args = ['--config', config, '--state-dir', state, '--proc-root', root];
    const apply = await startHeldApply(args, { TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL: '1' });

    const started = Date.now();
    const blocked = await runCli(['rollback', ...args], { env: { TITAN_PERF_TEST_LOCK_WAIT_MS: '1500' } });
    const ms = Date.now() - started;
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(
      /cannot rollback: another titan-perf operation \(apply by pid \d+ on .*\) holds the state directory .* did not finish within 1500 ms.*\[TITAN_PERF_STATE_LOCKED\]/,
    );
    expect(blocked.stderr).toContain(`pid ${apply.child.pid}`);
    expect(ms).toBeLessThan(15_000);
    expect(journal(state).length).toBe(2);

    apply.child.kill('SIGKILL');
    await exited(apply.child);
    const t0 = Date.now();
    const r = await runCli(['rollback', ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(journal(state)).toEqual([]);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('128');
  });

  it('a lock naming a live pid is held only if the process start time matches: a reused pid does not block', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '128' });
    const dir = tempDir('lock-reuse');
    const state = join(dir, 'state');
    mkdirSync(state, { recursive: true });
    const config = writeJson(dir, 'config.json', baseConfig());
    const args = ['--config', config, '--state-dir', state, '--proc-root', root];
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const lock = join(state, 'operation.lock');
      // The pid is alive, but it is not the process that took the lock (another start time).
      writeFileSync(
        lock,
        JSON.stringify({
          pid: sleeper.pid,
          start: String(Number(start) - 1),
          host: hostname(),
          operation: 'apply',
          at: Date.now(),
          token: 'x',
        }),
      );
      const free = await runCli(['apply', ...args], { env: { TITAN_PERF_TEST_LOCK_WAIT_MS: '1000' } });
      expect(free.code, free.stderr).toBe(0);
      expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');

      // The same pid with its real start time: that process holds it, so the wait ends with the message.
      writeFileSync(
        lock,
        JSON.stringify({ pid: sleeper.pid, start, host: hostname(), operation: 'apply', at: Date.now(), token: 'y' }),
      );
      const held = await runCli(['rollback', ...args], { env: { TITAN_PERF_TEST_LOCK_WAIT_MS: '1000' } });
      expect(held.code).toBe(1);
      expect(held.stderr).toMatch(/TITAN_PERF_STATE_LOCKED/);
      expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});

describe('the daemon and a state directory held by another operation', () => {
  it('SIGTERM while its first pass waits for the lock: the stop ends within its grace periods, not the lock wait, and says why', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '128' });
    const dir = tempDir('lock-daemon');
    const state = join(dir, 'state');
    const config = writeJson(dir, 'config.json', { ...baseConfig(), system: { daemon: { shutdownGrace: 500 } } });
    const args = ['--config', config, '--state-dir', state, '--proc-root', root];
    const apply = await startHeldApply(args, { TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL: '1' });
    const daemon = startCli(['run', ...args, '--listen', '127.0.0.1:0', '--rollback-on-exit']);
    const io = collect(daemon);
    try {
      await waitFor('the daemon to listen', () => io.out().includes('"event":"listening"'));
      // Its first pass is now waiting for the lock the paused apply holds (30 s by default).
      const started = Date.now();
      daemon.kill('SIGTERM');
      const { code } = await exited(daemon);
      const ms = Date.now() - started;
      console.log(`daemon stop while another operation held the state directory: ${ms} ms (shutdownGrace 500)`);
      expect(ms).toBeLessThan(15_000);
      expect(code).toBe(1);
      expect(io.out()).toMatch(
        /"event":"pass-failed".*did not start: it was waiting for the state lock when the daemon is stopping \(SIGTERM\).*TITAN_PERF_INTERRUPTED/,
      );
      expect(io.out()).toMatch(/"event":"rollback-failed".*shutdown grace of 500 ms ran out.*TITAN_PERF_INTERRUPTED/);
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      apply.child.kill('SIGKILL');
      await exited(apply.child);
    }
    // The paused apply's originals are still there for a rollback from a new process.
    const r = await runCli(['rollback', ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('128');
  });
});
