/**
 * Pod-scope sysctls against a real kernel, inside network namespaces this test
 * creates: apply, read back with `sysctl`, drift by hand, verify, the daemon's
 * repair, rollback, atomic undo. The host's own values are compared byte for
 * byte before and after.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseConfig,
  collect,
  exited,
  guardHost,
  NODE,
  nsSysctl,
  nsSysctlWrite,
  runCli,
  startCli,
  tempDir,
  waitFor,
  writeJson,
} from './support';
import { execFileSync } from 'node:child_process';

const POD_KEYS = {
  'net.core.somaxconn': '65535',
  'net.ipv4.tcp_max_syn_backlog': '65535',
  'net.ipv4.tcp_fastopen': '3',
  'net.ipv4.tcp_slow_start_after_idle': '0',
  'net.ipv4.ip_local_port_range': '1024\t65535',
  'net.ipv4.tcp_keepalive_time': '300',
  'net.ipv4.tcp_fin_timeout': '15',
};

const { newNs } = guardHost();

describe('sysctls in a network namespace', () => {
  it('plan, apply, verify, drift, rollback: read back by sysctl(8)', async () => {
    const ns = newNs();
    const dir = tempDir('netns');
    const config = writeJson(dir, 'config.json', baseConfig());
    const state = join(dir, 'state');
    const common = ['--config', config, '--state-dir', state];
    const originals = Object.fromEntries(Object.keys(POD_KEYS).map((k) => [k, nsSysctl(ns, k)]));

    const plan = await runCli(['plan', '--json', ...common], { netns: ns });
    expect(plan.code, plan.stderr).toBe(2);
    const entries = JSON.parse(plan.stdout).plan as { key: string; action: string; reason?: string }[];
    expect(entries.find((e) => e.key === 'net.core.somaxconn')?.action).toBe(
      originals['net.core.somaxconn'] === '65535' ? 'ok' : 'change',
    );
    // Node-wide keys are refused without allowNodeScope, with the reason.
    expect(entries.find((e) => e.key === 'vm.swappiness')).toMatchObject({ action: expect.stringMatching(/skip|ok/) });
    const swap = entries.find((e) => e.key === 'vm.swappiness');
    if (swap?.action === 'skip') expect(swap.reason).toMatch(/allowNodeScope/);
    // Nothing was written by plan.
    for (const [k, v] of Object.entries(originals)) expect(nsSysctl(ns, k)).toBe(v);

    const apply = await runCli(['apply', ...common], { netns: ns });
    expect(apply.code, apply.stderr + apply.stdout).toBe(0);
    for (const [k, v] of Object.entries(POD_KEYS)) expect(nsSysctl(ns, k)).toBe(v);
    const journal = JSON.parse(readFileSync(join(state, 'journal.json'), 'utf8'));
    expect(journal.entries.find((e: { key: string }) => e.key === 'net.core.somaxconn').original).toBe(
      originals['net.core.somaxconn'],
    );

    expect((await runCli(['verify', ...common], { netns: ns })).code).toBe(0);
    expect((await runCli(['plan', ...common], { netns: ns })).code).toBe(0);

    nsSysctlWrite(ns, 'net.ipv4.tcp_keepalive_time', '7000');
    const verify = await runCli(['verify', '--json', ...common], { netns: ns });
    expect(verify.code).toBe(3);
    expect(JSON.parse(verify.stdout).drift).toEqual([
      expect.objectContaining({ key: 'net.ipv4.tcp_keepalive_time', current: '7000', desired: '300' }),
    ]);

    // A second apply repairs the drift and keeps the first original (not titan-perf's own value).
    expect((await runCli(['apply', ...common], { netns: ns })).code).toBe(0);
    expect(nsSysctl(ns, 'net.ipv4.tcp_keepalive_time')).toBe('300');

    const rollback = await runCli(['rollback', ...common], { netns: ns });
    expect(rollback.code, rollback.stderr).toBe(0);
    for (const [k, v] of Object.entries(originals)) expect(nsSysctl(ns, k)).toBe(v);
    // Idempotent: nothing left to restore, still success, values untouched.
    const again = await runCli(['rollback', ...common], { netns: ns });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to roll back/);
    for (const [k, v] of Object.entries(originals)) expect(nsSysctl(ns, k)).toBe(v);
  });

  it('raise-only: a somaxconn already above the target is left alone', async () => {
    const ns = newNs();
    const dir = tempDir('netns-raise');
    nsSysctlWrite(ns, 'net.core.somaxconn', '100000');
    const config = writeJson(dir, 'config.json', baseConfig());
    const r = await runCli(['apply', '--json', '--config', config, '--state-dir', join(dir, 'state')], { netns: ns });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).plan.find((e: { key: string }) => e.key === 'net.core.somaxconn').action).toBe('ok');
    expect(nsSysctl(ns, 'net.core.somaxconn')).toBe('100000');
  });

  it('atomic apply: a value the kernel refuses undoes the whole run', async () => {
    const ns = newNs();
    const dir = tempDir('netns-atomic');
    const state = join(dir, 'state');
    const before = Object.fromEntries(Object.keys(POD_KEYS).map((k) => [k, nsSysctl(ns, k)]));
    // tcp_early_retrans accepts 0..4; the kernel answers EINVAL to 99 after the catalogue keys were written.
    const config = writeJson(dir, 'config.json', baseConfig({ extraSysctls: { 'net.ipv4.tcp_early_retrans': 99 } }));
    const r = await runCli(['apply', '--json', '--config', config, '--state-dir', state], { netns: ns });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.failed[0]).toMatchObject({ key: 'net.ipv4.tcp_early_retrans', code: 'TITAN_PERF_SYSCTL_REFUSED' });
    expect(result.rolledBack.length).toBeGreaterThan(3);
    for (const [k, v] of Object.entries(before)) expect(nsSysctl(ns, k)).toBe(v);
    // The journal no longer claims originals for keys this run restored itself.
    expect(JSON.parse(readFileSync(join(state, 'journal.json'), 'utf8')).entries).toEqual([]);

    // --no-atomic keeps what succeeded.
    const partial = await runCli(['apply', '--no-atomic', '--config', config, '--state-dir', state], { netns: ns });
    expect(partial.code).toBe(1);
    expect(nsSysctl(ns, 'net.core.somaxconn')).toBe('65535');
    const rollback = await runCli(['rollback', '--config', config, '--state-dir', state], { netns: ns });
    expect(rollback.code, rollback.stderr + rollback.stdout).toBe(0);
    for (const [k, v] of Object.entries(before)) expect(nsSysctl(ns, k)).toBe(v);
  });

  it('the daemon applies, serves probes, repairs drift, and rolls back on SIGTERM', async () => {
    const ns = newNs();
    const dir = tempDir('netns-daemon');
    const before = nsSysctl(ns, 'net.ipv4.tcp_fin_timeout');
    const config = writeJson(dir, 'config.json', baseConfig());
    const child = startCli(
      [
        'run',
        '--config',
        config,
        '--state-dir',
        join(dir, 'state'),
        '--interval',
        '200',
        '--listen',
        '127.0.0.1:0',
        '--rollback-on-exit',
      ],
      { netns: ns },
    );
    const io = collect(child);
    try {
      const port = await waitFor('the listening log line', () => {
        const line = io
          .out()
          .split('\n')
          .find((l) => l.includes('"listening"'));
        return line ? (JSON.parse(line).port as number) : undefined;
      });
      const probe = (path: string) =>
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            ns,
            NODE,
            '-e',
            `fetch('http://127.0.0.1:${port}${path}').then(async r => console.log(r.status, await r.text()))`,
          ],
          { encoding: 'utf8' },
        );
      await waitFor('readyz 200', () => probe('/readyz').startsWith('200'));
      expect(probe('/healthz')).toMatch(/^200/);
      expect(nsSysctl(ns, 'net.ipv4.tcp_fin_timeout')).toBe('15');

      nsSysctlWrite(ns, 'net.ipv4.tcp_fin_timeout', '45');
      await waitFor('the daemon to repair tcp_fin_timeout', () => nsSysctl(ns, 'net.ipv4.tcp_fin_timeout') === '15');
      // The log lines travel through a pipe and may arrive after the value is already repaired.
      const logs = () =>
        io
          .out()
          .split('\n')
          .slice(0, -1)
          .map((l) => JSON.parse(l) as { event: string; key?: string; changed?: number });
      await waitFor('the drift log line', () =>
        logs().some((l) => l.event === 'drift' && l.key === 'net.ipv4.tcp_fin_timeout'),
      );
      await waitFor('the repair log line', () => logs().some((l) => l.event === 'repair' && (l.changed ?? 0) >= 1));

      child.kill('SIGTERM');
      const { code } = await exited(child);
      expect(code, io.err()).toBe(0);
      expect(nsSysctl(ns, 'net.ipv4.tcp_fin_timeout')).toBe(before);
      expect(io.out()).toMatch(/"event":"stopped"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('report-only daemon logs drift and leaves it', async () => {
    const ns = newNs();
    const dir = tempDir('netns-report');
    const config = writeJson(dir, 'config.json', baseConfig());
    const state = join(dir, 'state');
    const child = startCli(
      [
        'run',
        '--config',
        config,
        '--state-dir',
        state,
        '--interval',
        '200',
        '--listen',
        '127.0.0.1:0',
        '--report-only',
      ],
      { netns: ns },
    );
    const io = collect(child);
    try {
      await waitFor('initial apply', () => io.out().includes('"initial-apply"'));
      nsSysctlWrite(ns, 'net.ipv4.tcp_keepalive_probes', '8');
      await waitFor('a verify line reporting the drift', () =>
        io
          .out()
          .split('\n')
          .some((l) => l.includes('"verify"') && l.includes('tcp_keepalive_probes')),
      );
      expect(nsSysctl(ns, 'net.ipv4.tcp_keepalive_probes')).toBe('8');
      child.kill('SIGTERM');
      expect((await exited(child)).code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect((await runCli(['rollback', '--config', config, '--state-dir', state], { netns: ns })).code).toBe(0);
  });
});
