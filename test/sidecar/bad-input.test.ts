/**
 * Bad input never touches anything: every `system` field with a wrong type and
 * an out-of-range value is refused by the schema with the field, the value and
 * what is allowed; the CLI exits 2 with that message and leaves the state dir
 * and the (fake) procfs as they were.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../dist/src/index.js';
import { SYSCTL_CATALOGUE } from '../../dist/src/config/sysctl-catalogue.js';
import { baseConfig, fakeProcRoot, readFakeSysctl, runCli, tempDir, writeJson } from './support';

type Case = [path: string, value: unknown];

function wrongTypes(): Case[] {
  const cases: Case[] = [
    ['enabled', 'yes'],
    ['allowNodeScope', 1],
    ['kernelParams', 'all of them'],
    ['extraSysctls', ['net.ipv4.tcp_mtu_probing']],
    ['logRotation.paths', '/var/log/app.log'],
    ['logRotation.maxSize', 100],
    ['logRotation.maxAge', '30'],
    ['logRotation.compress', 'gzip'],
    ['logRotation.mode', true],
    ['logRotation.rotate', '5'],
    ['logRotation.interval', null],
    ['logRotation.su', 42],
    ['logRotation.pidFile', 7],
    ['logRotation.reopenSignal', 1],
    ['daemon.verifyInterval', '1m'],
    ['daemon.drift', false],
    ['daemon.host', 127001],
    ['daemon.port', '9477'],
    ['daemon.rollbackOnExit', 'no'],
  ];
  for (const spec of SYSCTL_CATALOGUE as { param: string; type: string }[]) {
    cases.push([`kernelParams.${spec.param}`, spec.type === 'enum' ? 3 : 'lots']);
  }
  return cases;
}

function outOfRange(): Case[] {
  const cases: Case[] = [
    ['logRotation.maxSize', 'huge'],
    ['logRotation.maxAge', 0],
    ['logRotation.rotate', 100000],
    ['logRotation.interval', 10],
    ['logRotation.mode', 'move'],
    ['logRotation.paths', ['relative/app.log']],
    ['logRotation.paths', ['/var/log/a.log"\n}\n/etc/shadow {']],
    ['logRotation.paths', ['/var/log/a\\b.log']],
    ['logRotation.su', 'root'],
    ['logRotation.reopenSignal', 'SIGKILL'],
    ['daemon.verifyInterval', 1],
    ['daemon.port', 70000],
    ['daemon.drift', 'ignore'],
    ['extraSysctls', { '../../etc/passwd': 1 }],
    ['extraSysctls', { '/etc/passwd': 1 }],
    ['extraSysctls', { 'net.ipv4.tcp_mtu_probing': 'a\nb' }],
  ];
  for (const spec of SYSCTL_CATALOGUE as {
    param: string;
    type: string;
    min?: number;
    max?: number;
    count?: number;
  }[]) {
    if (spec.type === 'int')
      cases.push(
        [`kernelParams.${spec.param}`, (spec.max as number) + 1],
        [`kernelParams.${spec.param}`, (spec.min as number) - 1],
      );
    if (spec.type === 'enum') cases.push([`kernelParams.${spec.param}`, 'vegas']);
    if (spec.type === 'ints')
      cases.push(
        [`kernelParams.${spec.param}`, new Array((spec.count as number) + 1).fill(spec.min)],
        [`kernelParams.${spec.param}`, new Array(spec.count).fill((spec.max as number) + 1)],
      );
  }
  return cases;
}

function systemWith(path: string, value: unknown): Record<string, unknown> {
  const system: Record<string, unknown> = {};
  let cur = system;
  const parts = path.split('.');
  for (const p of parts.slice(0, -1)) cur = (cur[p] = {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]] = value;
  return { system };
}

function issuesFor(path: string, value: unknown) {
  try {
    resolveConfig({ env: {}, file: null, strict: true, code: systemWith(path, value) });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as InstanceType<typeof ConfigError>).issues;
  }
  throw new Error(`system.${path} = ${JSON.stringify(value)} was accepted`);
}

describe('config validation of the system section', () => {
  it.each(wrongTypes())('wrong type: system.%s = %j', (path, value) => {
    const issues = issuesFor(path, value);
    expect(issues[0].path.startsWith(`system.${path}`)).toBe(true);
    expect(issues[0].expected.length).toBeGreaterThan(5);
  });

  it.each(outOfRange())('refused: system.%s = %j', (path, value) => {
    const issues = issuesFor(path, value);
    expect(issues[0].path.startsWith(`system.${path}`)).toBe(true);
  });

  it('an unknown kernelParams key is refused with the known ones listed', () => {
    const issues = issuesFor('kernelParams.netCoreSomaxcon', 1024);
    expect(issues[0]).toMatchObject({ path: 'system.kernelParams.netCoreSomaxcon' });
    expect(issues[0].expected).toMatch(/no such setting.*netCoreSomaxconn/);
  });

  it('range messages name the allowed values', () => {
    expect(issuesFor('kernelParams.vmSwappiness', 500)[0].expected).toBe('an integer from 0 to 200');
    expect(issuesFor('kernelParams.tcpCongestionControl', 'vegas')[0].expected).toBe("one of 'bbr', 'cubic', 'reno'");
  });
});

describe('the CLI on bad input: exit 2, a message naming field, value and allowed values, nothing touched', () => {
  it('config and flag errors', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '4096', 'vm.swappiness': '60' });
    const dir = tempDir('bad');
    const state = join(dir, 'state');
    const cfg = (name: string, system: Record<string, unknown>) => writeJson(dir, name, baseConfig(system));
    const cases: [string[], RegExp][] = [
      [
        ['apply', '--config', cfg('type.json', { kernelParams: { netCoreSomaxconn: 'lots' } })],
        /system\.kernelParams\.netCoreSomaxconn: got "lots".*an integer from 128 to 4194304/,
      ],
      [
        ['apply', '--config', cfg('range.json', { kernelParams: { vmSwappiness: 900 } })],
        /system\.kernelParams\.vmSwappiness: got 900.*from 0 to 200/,
      ],
      [
        ['apply', '--config', cfg('unknown.json', { kernelParams: { 'net.core.somaxconn': 1 } })],
        /no such setting; known here: .*netCoreSomaxconn/,
      ],
      [
        [
          'apply',
          '--config',
          cfg('traversal.json', { allowNodeScope: true, extraSysctls: { '../../etc/passwd': 'x' } }),
        ],
        /system\.extraSysctls.*"\.\.\/\.\.\/etc\/passwd".*dotted sysctl key/,
      ],
      [
        ['apply', '--config', cfg('catalogued.json', { extraSysctls: { 'net.core.somaxconn': 1 } })],
        /catalogued; set system\.kernelParams\.netCoreSomaxconn/,
      ],
      [['apply', '--config', join(dir, 'missing.yaml')], /missing\.yaml.*readable JSON or YAML file \(ENOENT\)/],
      [['apply', '--profile', 'turbo'], /profile: got "turbo".*'default', 'hft'/],
      [['apply', '--bogus'], /flags: .*Unknown option '--bogus'/],
      [['launch'], /command: got "launch"; expected one of plan, apply, verify, rollback, run, status/],
      [['run', '--listen', 'everywhere'], /--listen: got "everywhere"; expected HOST:PORT/],
      [['run', '--interval', 'often'], /system\.daemon\.verifyInterval: got "often".*integer from 100/],
      [['run', '--listen', '127.0.0.1:99999'], /system\.daemon\.port: got 99999.*from 0 to 65535/],
    ];
    const results = await Promise.all(
      cases.map(([args]) => runCli([...args, '--state-dir', state, '--proc-root', root])),
    );
    results.forEach((r, i) => {
      expect(r.code, `${cases[i][0].join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(cases[i][1]);
    });
    expect(existsSync(state)).toBe(false);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('4096');
    expect(readFakeSysctl(root, 'vm.swappiness')).toBe('60');
  });

  it('--help and no command print the usage with the exit codes', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /exit codes: 0 ok, 1 failure, 2 invalid input or changes pending \(plan\), 3 drift \(verify\)/,
    );
  });
});
