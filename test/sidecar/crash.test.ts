/**
 * Crash safety: the sidecar is killed with SIGKILL between journalling the
 * originals and its first write (the test-only TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL
 * hook holds it exactly there), and a new process's `rollback` restores every
 * original, also for keys a crashed write had already changed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  baseConfig,
  collect,
  createNetns,
  deleteNetns,
  exited,
  fakeProcRoot,
  nsSysctl,
  nsSysctlWrite,
  readFakeSysctl,
  runCli,
  startCli,
  tempDir,
  waitFor,
  writeFakeSysctl,
  writeJson,
} from './support';

const namespaces: string[] = [];
afterAll(() => {
  for (const ns of namespaces) deleteNetns(ns);
});

async function applyAndKill(args: string[], netns?: string) {
  const child = startCli(['apply', ...args], { netns, env: { TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL: '1' } });
  const io = collect(child);
  await waitFor('the pause-after-journal marker', () => {
    if (child.exitCode !== null) throw new Error(`apply exited ${child.exitCode} before pausing: ${io.err()}`);
    return io.err().includes('test pause after journal');
  });
  child.kill('SIGKILL');
  const { signal } = await exited(child);
  expect(signal).toBe('SIGKILL');
}

describe('kill -9 between journal and write', () => {
  it('in a network namespace: rollback from a new process restores every original', async () => {
    const ns = createNetns();
    namespaces.push(ns);
    const dir = tempDir('crash-ns');
    const state = join(dir, 'state');
    const config = writeJson(dir, 'config.json', baseConfig());
    const keys = [
      'net.core.somaxconn',
      'net.ipv4.tcp_keepalive_time',
      'net.ipv4.ip_local_port_range',
      'net.ipv4.tcp_fin_timeout',
    ];
    const originals = Object.fromEntries(keys.map((k) => [k, nsSysctl(ns, k)]));

    await applyAndKill(['--config', config, '--state-dir', state], ns);
    // Journalled durably, nothing written yet, no temp file left half-way.
    const journal = JSON.parse(readFileSync(join(state, 'journal.json'), 'utf8'));
    for (const k of keys)
      expect(journal.entries.find((e: { key: string }) => e.key === k)?.original).toBe(originals[k]);
    for (const k of keys) expect(nsSysctl(ns, k)).toBe(originals[k]);
    expect(readdirSync(state).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // What the writes that were about to happen would have left behind.
    nsSysctlWrite(ns, 'net.core.somaxconn', '65535');
    nsSysctlWrite(ns, 'net.ipv4.tcp_keepalive_time', '300');

    const r = await runCli(['rollback', '--json', '--config', config, '--state-dir', state], { netns: ns });
    expect(r.code, r.stderr).toBe(0);
    for (const k of keys) expect(nsSysctl(ns, k)).toBe(originals[k]);
    expect(JSON.parse(readFileSync(join(state, 'journal.json'), 'utf8')).entries).toEqual([]);
  });

  it('on a fake procfs with node-wide keys and a logrotate config: every original back, the generated file gone', async () => {
    const values = {
      'vm.swappiness': '60',
      'fs.nr_open': '1024',
      'net.core.somaxconn': '128',
      'net.core.rmem_max': '212992',
    };
    const root = fakeProcRoot(values);
    const dir = tempDir('crash-fake');
    const state = join(dir, 'state');
    const config = writeJson(
      dir,
      'config.json',
      baseConfig({ allowNodeScope: true, logRotation: { paths: [join(dir, '*.log')] } }),
    );
    const args = ['--config', config, '--state-dir', state, '--proc-root', root];

    // A first complete apply, then a crash in a second one: the first originals must win.
    expect((await runCli(['apply', ...args])).code).toBe(0);
    expect(readFakeSysctl(root, 'vm.swappiness')).toBe('1');
    writeFakeSysctl(root, 'vm.swappiness', '30');
    await applyAndKill(args);
    expect(readFakeSysctl(root, 'vm.swappiness')).toBe('30');

    const r = await runCli(['rollback', ...args]);
    expect(r.code, r.stderr).toBe(0);
    for (const [k, v] of Object.entries(values)) expect(readFakeSysctl(root, k)).toBe(v);
    expect(readdirSync(state).includes('logrotate.conf')).toBe(false);
  });
});
