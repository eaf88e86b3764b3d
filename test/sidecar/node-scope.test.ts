/**
 * Node-wide keys (vm.*, fs.*, host-only net.core.*) against fake procfs trees
 * in temp dirs: the host's /proc is never written. A read-only procfs is a real
 * read-only bind mount, made inside a private mount namespace (unshare -m).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PERFORMANCE_CONFIG, resolveConfig } from '../../dist/src/index.js';
import { Engine } from '../../dist/src/engine/engine.js';
import { FileJournal } from '../../dist/src/engine/file-journal.js';
import { SysctlStore } from '../../dist/src/system/sysctl-store.js';
import {
  baseConfig,
  CLI,
  fakeProcRoot,
  NODE,
  readFakeSysctl,
  runCli,
  tempDir,
  writeFakeSysctl,
  writeJson,
} from './support';

const HOST_LIKE = {
  'vm.swappiness': '60',
  'vm.dirty_ratio': '20',
  'vm.dirty_background_ratio': '10',
  'fs.file-max': '9223372036854775807',
  'fs.nr_open': '1048576',
  'net.core.somaxconn': '4096',
  'net.core.rmem_max': '212992',
  'net.core.wmem_max': '212992',
  'net.core.netdev_max_backlog': '1000',
  'net.ipv4.tcp_congestion_control': 'cubic',
  'net.ipv4.tcp_available_congestion_control': 'reno cubic bbr',
};

function nodeConfig(system: Record<string, unknown> = {}) {
  return resolveConfig({ env: {}, file: null, strict: true, code: baseConfig({ allowNodeScope: true, ...system }) })
    .config;
}

describe('node-wide sysctls on a fake procfs', () => {
  it('refused without allowNodeScope, applied and rolled back with it', async () => {
    const root = fakeProcRoot(HOST_LIKE);
    const dir = tempDir('node');
    const state = join(dir, 'state');
    const pod = writeJson(dir, 'pod.json', baseConfig());
    const plan = await runCli(['plan', '--json', '--config', pod, '--state-dir', state, '--proc-root', root]);
    const entries = JSON.parse(plan.stdout).plan as { key: string; action: string; reason?: string }[];
    expect(entries.find((e) => e.key === 'vm.swappiness')).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/node-wide.*allowNodeScope/),
    });
    await runCli(['apply', '--config', pod, '--state-dir', state, '--proc-root', root]);
    expect(readFakeSysctl(root, 'vm.swappiness')).toBe('60');

    const node = writeJson(dir, 'node.json', baseConfig({ allowNodeScope: true }));
    const apply = await runCli(['apply', '--json', '--config', node, '--state-dir', state, '--proc-root', root]);
    expect(apply.code, apply.stderr).toBe(0);
    expect(readFakeSysctl(root, 'vm.swappiness')).toBe('1');
    expect(readFakeSysctl(root, 'vm.dirty_ratio')).toBe('10');
    expect(readFakeSysctl(root, 'net.core.rmem_max')).toBe('16777216');
    expect(readFakeSysctl(root, 'net.ipv4.tcp_congestion_control')).toBe('bbr');
    // Raise-only on a value a double cannot hold: LONG_MAX stays.
    expect(readFakeSysctl(root, 'fs.file-max')).toBe('9223372036854775807');

    const rollback = await runCli(['rollback', '--config', node, '--state-dir', state, '--proc-root', root]);
    expect(rollback.code, rollback.stderr).toBe(0);
    for (const [k, v] of Object.entries(HOST_LIKE)) expect(readFakeSysctl(root, k)).toBe(v);
  });

  it('host-only keys are reported as such in a pod namespace', async () => {
    // What a pod's netns looks like on Linux >= 6.10: rmem_max read-only, netdev_max_backlog absent.
    const { 'net.core.netdev_max_backlog': _absent, ...inPod } = HOST_LIKE;
    const root = fakeProcRoot(inPod);
    chmodSync(join(root, 'sys/net/core/rmem_max'), 0o444);
    const store = new SysctlStore({ system: nodeConfig().system, procRoot: root });
    const desired = await store.desired();
    expect(desired.find((d) => d.key === 'net.core.netdev_max_backlog')?.skip).toMatch(
      /only in the host network namespace.*hostNetwork/,
    );
    expect(desired.find((d) => d.key === 'net.core.rmem_max')?.skip).toMatch(
      /read-only outside the host network namespace/,
    );
    expect(desired.find((d) => d.key === 'net.core.wmem_max')?.skip).toBeUndefined();
  });

  it('bbr is skipped when the kernel does not offer it', async () => {
    const root = fakeProcRoot({ ...HOST_LIKE, 'net.ipv4.tcp_available_congestion_control': 'reno cubic' });
    const store = new SysctlStore({ system: nodeConfig().system, procRoot: root });
    const cc = (await store.desired()).find((d) => d.key === 'net.ipv4.tcp_congestion_control');
    expect(cc?.skip).toMatch(/bbr is not available.*reno cubic.*modprobe tcp_bbr/);
  });

  it('extraSysctls: allow-listed keys are written, unlisted ones refused, and paths stay inside sys/', async () => {
    const root = fakeProcRoot({ ...HOST_LIKE, 'net.ipv4.tcp_mtu_probing': '0', 'kernel.pid_max': '4194304' });
    const system = nodeConfig({ extraSysctls: { 'net.ipv4.tcp_mtu_probing': 1 } }).system;
    const store = new SysctlStore({ system, procRoot: root });
    const engine = new Engine({ stores: [store], journal: new FileJournal(tempDir('extra')) });
    const r = await engine.apply();
    expect(r.ok).toBe(true);
    expect(readFakeSysctl(root, 'net.ipv4.tcp_mtu_probing')).toBe('1');
    await expect(store.write('kernel.pid_max', '1000')).rejects.toMatchObject({
      code: 'TITAN_PERF_SYSCTL_UNKNOWN_KEY',
    });
    expect(readFakeSysctl(root, 'kernel.pid_max')).toBe('4194304');
    for (const bad of [
      '../../etc/passwd',
      '/etc/passwd',
      'net..core',
      'net/core/somaxconn',
      'net.core.somaxconn\n',
      '.net.core',
    ]) {
      await expect(store.read(bad)).rejects.toMatchObject({ code: 'TITAN_PERF_SYSCTL_KEY_INVALID' });
      expect(() => new SysctlStore({ system: { ...system, extraSysctls: { [bad]: 1 } }, procRoot: root })).toThrow(
        /not allowed|outside/,
      );
    }
  });

  it('a symlink inside the fake tree cannot lead a key outside it', async () => {
    const root = fakeProcRoot(HOST_LIKE);
    const outside = tempDir('outside');
    writeFakeSysctl(outside, 'x.y', 'secret');
    execFileSync('ln', ['-s', join(outside, 'sys', 'x'), join(root, 'sys', 'evil')]);
    const store = new SysctlStore({ system: nodeConfig().system, procRoot: root });
    await expect(store.read('evil.y')).rejects.toMatchObject({ code: 'TITAN_PERF_SYSCTL_KEY_INVALID' });
  });

  it('a read-only procfs: a warning naming the privilege, the Kubernetes safe list, and logrotate still applied', async () => {
    const root = fakeProcRoot({
      ...HOST_LIKE,
      'net.ipv4.tcp_keepalive_time': '7200',
      'net.ipv4.ip_local_port_range': '32768\t60999',
    });
    const dir = tempDir('ro');
    const logs = tempDir('ro-logs');
    const state = join(dir, 'state');
    const config = writeJson(dir, 'config.json', baseConfig({ logRotation: { paths: [join(logs, '*.log')] } }));
    // A private mount namespace: the read-only bind mount exists only for this one command.
    const run = (cmd: string) =>
      execFileSync(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount --bind -o ro "$0/sys" "$0/sys" && exec "$@"`,
          root,
          NODE,
          CLI,
          cmd,
          '--json',
          '--config',
          config,
          '--state-dir',
          state,
          '--proc-root',
          root,
        ],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    let out: string;
    let stderr = '';
    try {
      out = run('plan');
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      expect(e.status).toBe(2); // logrotate pending
      out = e.stdout;
      stderr = e.stderr;
    }
    expect(stderr).toMatch(/not writable \(EROFS\).*mounted read-only.*privileged/);
    const plan = JSON.parse(out);
    expect(plan.sysctlAccess.readOnly).toMatch(/EROFS/);
    expect(plan.sysctlAccess.kubernetesSysctls).toEqual(
      expect.arrayContaining([
        { name: 'net.ipv4.tcp_keepalive_time', value: '300' },
        { name: 'net.ipv4.ip_local_port_range', value: '1024 65535' },
      ]),
    );
    expect(plan.plan.find((e: { key: string }) => e.key === 'net.core.somaxconn')).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/EROFS/),
    });

    const applied = JSON.parse(run('apply'));
    expect(applied.ok).toBe(true);
    expect(applied.changed.map((c: { store: string }) => c.store)).toEqual(['logrotate']);
    expect(existsSync(join(state, 'logrotate.conf'))).toBe(true);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('4096');
    expect(readFileSync(join(state, 'logrotate.conf'), 'utf8')).toContain(join(logs, '*.log'));
  });

  it('the default config plans every catalogued key', async () => {
    const store = new SysctlStore({ system: DEFAULT_PERFORMANCE_CONFIG.system, procRoot: fakeProcRoot(HOST_LIKE) });
    expect((await store.desired()).length).toBeGreaterThanOrEqual(20);
  });
});

describe('status', () => {
  it('reports the managed sysctls, file descriptors, load and memory', async () => {
    const root = fakeProcRoot({ ...HOST_LIKE, 'fs.file-nr': '2048\t0\t100000' });
    const dir = tempDir('status');
    const config = writeJson(dir, 'config.json', baseConfig({ allowNodeScope: true }));
    const r = await runCli([
      'status',
      '--json',
      '--config',
      config,
      '--state-dir',
      join(dir, 'state'),
      '--proc-root',
      root,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { system } = JSON.parse(r.stdout);
    expect(system.fileDescriptors).toEqual({ allocated: 2048, max: 100000, usage: 0.02048 });
    expect(system.sysctls.find((s: { key: string }) => s.key === 'vm.swappiness')).toMatchObject({
      current: '60',
      desired: '1',
      ok: false,
    });
    expect(system.sysctls.find((s: { key: string }) => s.key === 'fs.file-max')).toMatchObject({ ok: true });
    expect(system.load.cpus).toBeGreaterThan(0);
    expect(system.memory.totalBytes).toBeGreaterThan(0);
    const table = await runCli(['status', '--config', config, '--state-dir', join(dir, 'state'), '--proc-root', root]);
    expect(table.stdout).toMatch(/file descriptors 2048 of 100000/);
    expect(table.stdout).toMatch(/vm\.swappiness\s+60\s+1\s+drift/);
  });
});

describe('profiles and dry runs', () => {
  it('hft plans the latency values; --dry-run writes nothing', async () => {
    const root = fakeProcRoot({
      ...HOST_LIKE,
      'net.ipv4.tcp_notsent_lowat': '4294967295',
      'net.ipv4.tcp_keepalive_time': '7200',
      'net.core.busy_poll': '0',
    });
    const dir = tempDir('hft');
    const config = writeJson(dir, 'config.json', baseConfig({ allowNodeScope: true }));
    const state = join(dir, 'state');
    const r = await runCli([
      'apply',
      '--dry-run',
      '--json',
      '--profile',
      'hft',
      '--config',
      config,
      '--state-dir',
      state,
      '--proc-root',
      root,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout).plan as { key: string; desired: string; action: string }[];
    expect(plan.find((e) => e.key === 'net.ipv4.tcp_notsent_lowat')).toMatchObject({
      desired: '16384',
      action: 'change',
    });
    expect(plan.find((e) => e.key === 'net.ipv4.tcp_keepalive_time')).toMatchObject({
      desired: '60',
      action: 'change',
    });
    expect(plan.find((e) => e.key === 'net.core.busy_poll')).toMatchObject({ desired: '50', action: 'change' });
    expect(readFakeSysctl(root, 'net.ipv4.tcp_notsent_lowat')).toBe('4294967295');
    expect(existsSync(state)).toBe(false);
    // The default profile leaves those keys unmanaged.
    const def = JSON.parse(
      (await runCli(['plan', '--json', '--config', config, '--state-dir', state, '--proc-root', root])).stdout,
    ).plan;
    expect(def.find((e: { key: string }) => e.key === 'net.ipv4.tcp_notsent_lowat')).toBeUndefined();
  });
});
