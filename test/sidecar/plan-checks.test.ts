/**
 * What can be known before the first write is known in plan: dangerous
 * extraSysctls, logrotate's refusals, sizes no server accepts, control
 * characters in paths and prototype keys are refused with exit 2 naming the
 * field, and nothing is journalled or written. A congestion control the
 * kernel will not let a pod choose is a skip with the reason, in plan and
 * apply alike, inside a network namespace of the test's own.
 */
import { chmodSync, chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig, validateConfig } from '../../dist/src/index.js';
import { baseConfig, fakeProcRoot, guardHost, nsSysctl, readFakeSysctl, runCli, tempDir, writeJson } from './support';

const { newNs } = guardHost();

function refusal(code: unknown): { path: string; expected: string }[] {
  try {
    validateConfig(code);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error(`accepted: ${JSON.stringify(code)}`);
}

describe('extraSysctls: code-execution and security keys are refused at validation', () => {
  const denied: [string, RegExp][] = [
    ['kernel.core_pattern', /runs as root .* crash dump/],
    ['kernel.modprobe', /runs as root .* module/],
    ['kernel.hotplug', /device event/],
    ['kernel.uevent_helper', /device event/],
    ['kernel.poweroff_cmd', /power-off/],
    ['kernel.usermodehelper.bset', /capabilities/],
    ['kernel.yama.ptrace_scope', /trace/],
    ['kernel.kptr_restrict', /KASLR/],
    ['fs.binfmt_misc.register', /interpreter/],
    ['fs.suid_dumpable', /setuid/],
    ['fs.protected_symlinks', /symlink races/],
    ['vm.mmap_min_addr', /NULL-pointer/],
    ['net.core.bpf_jit_harden', /JIT/],
    ['net.ipv4.conf.all.route_localnet', /127\.0\.0\.1/],
    ['kernel.shmmax', /only net\.\*, vm\.\*, fs\.\* keys/],
    ['dev.tty.ldisc_autoload', /only net\.\*, vm\.\*, fs\.\* keys/],
  ];
  for (const [key, why] of denied) {
    it(`${key}`, () => {
      const issues = refusal({ system: { allowNodeScope: true, extraSysctls: { [key]: '|/tmp/evil %p' } } });
      expect(issues).toHaveLength(1);
      expect(issues[0].path).toBe(`system.extraSysctls.${key}`);
      expect(issues[0].expected).toMatch(why);
    });
  }

  it('tuning keys in net.*, vm.* and fs.* are still accepted', () => {
    const extra = { 'net.ipv4.tcp_mtu_probing': 1, 'vm.vfs_cache_pressure': 50, 'fs.inotify.max_user_watches': 524288 };
    expect(validateConfig({ system: { extraSysctls: extra } }).system.extraSysctls).toEqual(extra);
  });

  it('from TITAN_PERF_SYSTEM__EXTRA_SYSCTLS the CLI exits 2 naming the key and the variable, nothing written', async () => {
    const root = fakeProcRoot({ 'kernel.core_pattern': 'core', 'net.core.somaxconn': '4096' });
    const dir = tempDir('deny-env');
    const state = join(dir, 'state');
    const r = await runCli(
      [
        'apply',
        '--config',
        writeJson(dir, 'c.json', baseConfig({ allowNodeScope: true })),
        '--state-dir',
        state,
        '--proc-root',
        root,
      ],
      {
        env: { TITAN_PERF_SYSTEM__EXTRA_SYSCTLS: '{"kernel.core_pattern":"|/tmp/evil %p"}' },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/system\.extraSysctls\.kernel\.core_pattern: .*TITAN_PERF_SYSTEM__EXTRA_SYSCTLS.*refused/);
    expect(readFakeSysctl(root, 'kernel.core_pattern')).toBe('core');
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('4096');
    expect(existsSync(state)).toBe(false);
  });
});

describe('validation refuses what the first write would', () => {
  it('sizes beyond any server or log are refused with the allowed range', () => {
    expect(refusal({ redis: { maxMemory: '99999999999999999999999gb' } })[0]).toMatchObject({
      path: 'redis.maxMemory',
      expected: expect.stringMatching(/at most 1048576gb/),
    });
    expect(refusal({ system: { logRotation: { maxSize: '99999999999gb' } } })[0]).toMatchObject({
      path: 'system.logRotation.maxSize',
      expected: expect.stringMatching(/at most 1024gb/),
    });
    expect(
      validateConfig({ redis: { maxMemory: '512gb' }, system: { logRotation: { maxSize: '2gb' } } }).redis.maxMemory,
    ).toBe('512gb');
  });

  it('control characters in log paths and the pid file are refused', () => {
    for (const bad of ['/var/log/a\tb.log', '/var/log/a\x01.log', '/var/log/a\x7f.log', '/var/log/a\x1b[31m.log']) {
      expect(refusal({ system: { logRotation: { paths: [bad] } } })[0]).toMatchObject({
        path: 'system.logRotation.paths.0',
        expected: expect.stringMatching(/control characters/),
      });
      expect(refusal({ system: { logRotation: { pidFile: bad } } })[0]).toMatchObject({
        path: 'system.logRotation.pidFile',
      });
    }
  });

  it('__proto__, constructor and prototype keys are refused by name, from a file, the environment or code', () => {
    const dir = tempDir('proto');
    const file = join(dir, 'c.json');
    writeFileSync(file, '{"nodejs":{"__proto__":{"polluted":true}},"redis":{"constructor":{"x":1}}}');
    const fromFile = resolveConfig({ env: { TITAN_PERF_CONFIG: file } }).issues;
    expect(fromFile.map((i) => i.path).sort()).toEqual(['nodejs.__proto__', 'redis.constructor']);
    expect(fromFile[0].expected).toMatch(/refused/);
    const yaml = join(dir, 'c.yaml');
    writeFileSync(yaml, 'system:\n  prototype: 1\n');
    expect(resolveConfig({ env: { TITAN_PERF_CONFIG: yaml } }).issues.map((i) => i.path)).toEqual(['system.prototype']);
    const fromEnv = resolveConfig({ env: { TITAN_PERF_NODEJS__CONSTRUCTOR: '1' } }).issues;
    expect(fromEnv).toEqual([
      expect.objectContaining({ path: 'nodejs.constructor', source: 'TITAN_PERF_NODEJS__CONSTRUCTOR' }),
    ]);
    const envJson = resolveConfig({ env: { TITAN_PERF_SYSTEM__EXTRA_SYSCTLS: '{"__proto__":{"x":1}}' } }).issues;
    expect(envJson.map((i) => i.path)).toContain('system.extraSysctls.__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('logrotate refusals are known in plan, before any sysctl is written', () => {
  const cases: [string, (logs: string) => Record<string, unknown>, RegExp][] = [
    [
      'unknown su user',
      (logs) => ({ paths: [join(logs, '*.log')], su: 'nosuchuser nosuchgroup' }),
      /system\.logRotation\.su: got "nosuchuser nosuchgroup".*unknown user/,
    ],
    [
      'group-writable log directory',
      (logs) => {
        // Writable by a group that is not root's: logrotate will not rotate there without su.
        chownSync(logs, 0, 100);
        chmodSync(logs, 0o775);
        return { paths: [join(logs, '*.log')] };
      },
      /system\.logRotation\.paths: .*insecure permissions/,
    ],
    [
      'a path overlapping a glob',
      (logs) => ({ paths: [join(logs, '*.log'), join(logs, 'app.log')] }),
      /system\.logRotation\.paths: .*duplicate log entry/,
    ],
  ];
  for (const [name, rotation, why] of cases) {
    it(`${name}: plan and apply exit 2 naming the field, nothing written`, async () => {
      const logs = tempDir('pc-logs');
      writeFileSync(join(logs, 'app.log'), Buffer.alloc(2048, 'a'));
      const dir = tempDir('pc');
      const state = join(dir, 'state');
      const root = fakeProcRoot({ 'net.core.somaxconn': '4096' });
      const config = writeJson(
        dir,
        'c.json',
        baseConfig({ kernelParams: { netCoreSomaxconn: 65535 }, logRotation: rotation(logs) }),
      );
      for (const command of ['plan', 'apply']) {
        const r = await runCli([command, '--config', config, '--state-dir', state, '--proc-root', root]);
        expect(r.code, `${command}: ${r.stderr}`).toBe(2);
        expect(r.stderr, command).toMatch(why);
      }
      expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('4096');
      expect(existsSync(state) ? readdirSync(state) : []).toEqual([]);
    });
  }
});

describe('a congestion control the pod may not choose', () => {
  it('available but not in tcp_allowed_congestion_control: skipped in plan with the reason, apply does not try it', async () => {
    const ns = newNs();
    const allowed = nsSysctl(ns, 'net.ipv4.tcp_allowed_congestion_control').split(/\s+/);
    const available = nsSysctl(ns, 'net.ipv4.tcp_available_congestion_control').split(/\s+/);
    const choice = ['cubic', 'reno', 'bbr'].find((c) => available.includes(c) && !allowed.includes(c));
    if (!choice) {
      // Every available one is allowed on this host: nothing to show, and the test says so.
      expect
        .soft(allowed, 'this kernel allows every available congestion control to pods')
        .toEqual(expect.arrayContaining(available));
      return;
    }
    const before = nsSysctl(ns, 'net.ipv4.tcp_congestion_control');
    const dir = tempDir('cc');
    const config = writeJson(
      dir,
      'c.json',
      baseConfig({ kernelParams: { tcpCongestionControl: choice, netCoreSomaxconn: 65535 } }),
    );
    const plan = await runCli(['plan', '--json', '--config', config, '--state-dir', join(dir, 'state')], { netns: ns });
    const entry = JSON.parse(plan.stdout).plan.find(
      (e: { key: string }) => e.key === 'net.ipv4.tcp_congestion_control',
    );
    expect(entry).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(
        new RegExp(
          `${choice} is not in net.ipv4.tcp_allowed_congestion_control.*EPERM.*kernelParams.tcpCongestionControl`,
        ),
      ),
    });
    const apply = await runCli(['apply', '--json', '--config', config, '--state-dir', join(dir, 'state')], {
      netns: ns,
    });
    expect(apply.code, apply.stderr).toBe(0);
    const result = JSON.parse(apply.stdout);
    expect(result.failed).toEqual([]);
    expect(result.changed.map((c: { key: string }) => c.key)).toContain('net.core.somaxconn');
    expect(nsSysctl(ns, 'net.ipv4.tcp_congestion_control')).toBe(before);
  });
});
