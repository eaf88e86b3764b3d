// The test command's system set-up: what it decides from the facts of a machine
// (pure, so every case runs here without changing this machine's packages), and
// one real run of `npm test`'s entry point with a tool hidden from PATH and a
// non-root user, which must stop before building or running any test.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM without types
import { decideSetup, parseOsRelease, presentCommands, selectTools } from '../../scripts/system-setup.mjs';
// @ts-expect-error plain ESM without types
import { SYSTEM_TOOLS } from '../../scripts/system-tools.mjs';
import { ROOT } from '../helpers/paths';

interface Tool {
  command: string;
  package: string;
  folders: string[];
  why: string;
  required?: boolean;
}
const TOOLS = SYSTEM_TOOLS as Tool[];
const DEBIAN = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
const everything = TOOLS.map((t) => t.command);
const without = (...cmds: string[]) => everything.filter((c) => !cmds.includes(c));
const facts = { tools: TOOLS, present: everything, uid: 0, osRelease: DEBIAN, hasAptGet: true, optOut: false };

describe('the list of system tools', () => {
  it('names for every tool its command, Debian package, the folders that need it and why', () => {
    for (const t of TOOLS) {
      expect(t.command).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(t.package).toMatch(/^[a-z0-9][a-z0-9.+-]*$/);
      expect(t.folders.length).toBeGreaterThan(0);
      expect(t.why.length).toBeGreaterThan(10);
    }
    // The tools every run of the suite has needed so far, and the container tools.
    for (const c of [
      'redis-server',
      'logrotate',
      'prometheus',
      'ip',
      'sysctl',
      'unshare',
      'gzip',
      'podman',
      'runc',
      'catatonit',
      'debootstrap',
    ]) {
      expect(
        TOOLS.find((t) => t.command === c && t.required !== false),
        c,
      ).toBeDefined();
    }
  });
});

describe('what the set-up decides', () => {
  it('does nothing (no apt-get) when every tool is there', () => {
    expect(decideSetup(facts)).toMatchObject({ action: 'ok', missing: [], packages: [], message: '' });
  });

  it('as root on Debian with a tool missing: installs its package, saying what and for which tests', () => {
    const d = decideSetup({ ...facts, present: without('redis-server', 'prometheus') });
    expect(d.action).toBe('install');
    expect(d.packages).toEqual(['redis-server', 'prometheus']);
    expect(d.message).toContain('apt-get install redis-server prometheus');
    expect(d.message).toContain('redis-server for test/redis, test/api, test/telemetry');
    expect(d.message.split('\n')).toHaveLength(1);
  });

  it('not as root: stops with the list and the exact sudo command, and installs nothing', () => {
    const d = decideSetup({ ...facts, uid: 1000, present: without('redis-server', 'logrotate') });
    expect(d.action).toBe('stop');
    expect(d.packages).toEqual([]);
    expect(d.message).toContain('no test was run');
    expect(d.message).toContain('not running as root');
    expect(d.message).toMatch(/^ {2}redis-server .*Debian package redis-server/m);
    expect(d.message).toMatch(/^ {2}logrotate .*test\/sidecar/m);
    expect(d.message).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-server logrotate',
    );
    expect(d.message).toContain('--no-system-setup');
  });

  it('on another distribution, even as root: stops, names it, and gives the Debian names to look for', () => {
    const fedora = parseOsRelease('NAME="Fedora Linux"\nID=fedora\n');
    const d = decideSetup({ ...facts, osRelease: fedora, present: without('wrk', 'ip') });
    expect(d.action).toBe('stop');
    expect(d.message).toContain('not Debian or Ubuntu (ID=fedora)');
    expect(d.message).toContain("this system's package manager");
    expect(d.message).toContain('apt-get install -y --no-install-recommends iproute2');
    expect(d.message).not.toMatch(/^ {2}wrk /m); // optional: never a reason to stop
  });

  it('on Debian without apt-get, or with no os-release at all: stops', () => {
    expect(decideSetup({ ...facts, hasAptGet: false, present: without('gzip') })).toMatchObject({ action: 'stop' });
    expect(decideSetup({ ...facts, hasAptGet: false, present: without('gzip') }).message).toContain(
      'apt-get is not on this machine',
    );
    expect(decideSetup({ ...facts, osRelease: null, present: without('gzip') }).message).toContain('ID=unknown');
  });

  it('a Debian or Ubuntu derivative (ID_LIKE) installs like Debian', () => {
    const mint = parseOsRelease('ID=linuxmint\nID_LIKE="ubuntu debian"\n');
    expect(decideSetup({ ...facts, osRelease: mint, present: without('podman') })).toMatchObject({
      action: 'install',
      packages: ['podman'],
    });
  });

  it('with the opt-out: runs the tests anyway, as root or not, and says what is missing', () => {
    for (const uid of [0, 1000]) {
      const d = decideSetup({ ...facts, uid, optOut: true, present: without('redis-server') });
      expect(d.action).toBe('skip');
      expect(d.packages).toEqual([]);
      expect(d.message).toContain('not installed: redis-server');
    }
  });

  it('an optional tool alone never runs apt-get nor stops; with a required one missing it is installed too', () => {
    const alone = decideSetup({ ...facts, uid: 1000, present: without('wrk') });
    expect(alone.action).toBe('ok');
    expect(alone.message).toContain('optional, not installed: wrk');
    expect(decideSetup({ ...facts, present: without('wrk', 'sysctl') })).toMatchObject({
      action: 'install',
      packages: ['procps', 'wrk'],
    });
  });
});

describe('which tools a run needs', () => {
  const files = [
    'test/unit/config.test.ts',
    'test/redis/store.test.ts',
    'test/sidecar/netns.test.ts',
    'test/preload/config.test.ts',
  ];
  const commands = (args: string[]) => (selectTools(TOOLS, { args, testFiles: files }) as Tool[]).map((t) => t.command);

  it('all of them without a file filter', () => {
    expect(commands(['--node', '24'])).toEqual(everything);
  });

  it('only those of the folders a file filter selects', () => {
    expect(commands(['--node', '24', 'test/unit/config.test.ts'])).toEqual([]);
    expect(commands(['test/redis/store.test.ts'])).toEqual(['redis-server', 'redis-cli']);
    expect(commands(['config'])).toEqual(['openssl']); // test/unit and test/preload
  });

  it('all of them when a filter matches no file, or the argument is the value of -t', () => {
    expect(commands(['no-such-test'])).toEqual(everything);
    expect(commands(['-t', 'redis'])).toEqual(everything);
  });
});

function run(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; uid?: number },
): Promise<{ code: unknown; out: string; err: string }> {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

// The install step with a stand-in apt-get first on PATH (it records its arguments and "installs" by creating the
// missing commands in its own directory): the real apt-get is never run, this machine's packages never change.
describe.skipIf(
  process.getuid?.() !== 0 ||
    !existsSync('/etc/os-release') ||
    !/^ID(_LIKE)?=.*(debian|ubuntu)/m.test(readFileSync('/etc/os-release', 'utf8')),
)('the install step as root on Debian (stand-in apt-get)', () => {
  function fakeApt(exitCode: number) {
    const bin = mkdtempSync(join(tmpdir(), 'titan-perf-apt-'));
    const script = [
      '#!/bin/sh',
      `echo "$* | DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "${bin}/calls"`,
      `[ ${exitCode} -ne 0 ] && { echo "E: stand-in failure" >&2; exit ${exitCode}; }`,
      'if [ "$2" = install ]; then',
      `  for c in redis-server redis-cli; do printf '#!/bin/sh\n' > "${bin}/$c"; /bin/chmod +x "${bin}/$c"; done`,
      'fi',
      'exit 0',
    ].join('\n');
    writeFileSync(join(bin, 'apt-get'), script + '\n');
    chmodSync(join(bin, 'apt-get'), 0o755);
    return bin;
  }
  const setup = (bin: string) =>
    run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(join(ROOT, 'scripts', 'system-setup.mjs'))}); m.systemSetup(['test/redis/store.test.ts'], { root: ${JSON.stringify(ROOT)} }); console.log('tests would run now');`,
      ],
      { env: { ...process.env, PATH: `${bin}:${dirname(process.execPath)}`, TITAN_PERF_NO_SYSTEM_SETUP: '' } },
    );

  it('one quiet update, one install of the missing packages, one line saying why, then the tests run', async () => {
    const bin = fakeApt(0);
    try {
      const r = await setup(bin);
      expect(readFileSync(join(bin, 'calls'), 'utf8')).toBe(
        '-qq update | DEBIAN_FRONTEND=noninteractive\n-qq install -y --no-install-recommends redis-server redis-tools | DEBIAN_FRONTEND=noninteractive\n',
      );
      expect(r.err.trim().split('\n')).toEqual([
        expect.stringContaining(
          'apt-get install redis-server redis-tools (missing system tools the tests run: redis-server for test/redis',
        ),
      ]);
      expect(r.out).toBe('tests would run now\n');
      expect(r.code).toBe(0);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('apt-get failing (no network): its output, then the one message with the command, exit 1', async () => {
    const bin = fakeApt(100);
    try {
      const r = await setup(bin);
      expect(readFileSync(join(bin, 'calls'), 'utf8')).toBe('-qq update | DEBIAN_FRONTEND=noninteractive\n'); // no install after a failed update
      expect(r.err).toContain('E: stand-in failure');
      expect(r.err).toContain(
        'no test was run: these system tools are missing and apt-get update failed (no network or no package source?)',
      );
      expect(r.err).toContain(
        '\n  apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools\n',
      );
      expect(r.out).toBe('');
      expect(r.code).toBe(1);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe('the opt-out, for real', () => {
  const setup = (argv: string[], extra: Record<string, string>) =>
    run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(join(ROOT, 'scripts', 'system-setup.mjs'))});` +
          `console.log(JSON.stringify(m.systemSetup(${JSON.stringify(argv)}, { root: ${JSON.stringify(ROOT)} })));`,
      ],
      { env: { ...process.env, PATH: dirname(process.execPath), ...extra } },
    );

  it('--no-system-setup or TITAN_PERF_NO_SYSTEM_SETUP=1: no install, one line naming what is missing, tests go on', async () => {
    for (const [argv, env] of [
      [['--no-system-setup', 'test/redis/store.test.ts'], { TITAN_PERF_NO_SYSTEM_SETUP: '' }],
      [['test/redis/store.test.ts'], { TITAN_PERF_NO_SYSTEM_SETUP: '1' }],
    ] as const) {
      const r = await setup([...argv], env);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toEqual(['test/redis/store.test.ts']); // the flag is not passed on to vitest
      expect(r.err.trim()).toBe(
        'titan-perf test set-up: skipped (--no-system-setup / TITAN_PERF_NO_SYSTEM_SETUP=1); ' +
          'not installed: redis-server, redis-cli (the tests that need them will fail)',
      );
    }
  });
});

describe('a real run of the test command that cannot install', () => {
  const asNobody = process.getuid?.() === 0;
  it('as a non-root user with redis-server hidden from PATH: one message, exit 1, no build, no test', async () => {
    // Only the directory of this Node on PATH: redis-server (/usr/bin) is not found; sbin tools still are.
    const env = { ...process.env, PATH: dirname(process.execPath), CI: 'true' };
    delete env.TITAN_PERF_NO_SYSTEM_SETUP;
    expect(presentCommands([{ command: 'redis-server' }], env.PATH)).toEqual([]);
    const { code, out, err } = await run(
      process.execPath,
      [join(ROOT, 'scripts', 'test-all.mjs'), '--node', '24', 'test/redis/store.test.ts'],
      {
        env,
        uid: asNobody ? 65534 : undefined,
      },
    );
    expect(err).toContain('titan-perf test set-up: no test was run');
    expect(err).toContain('not running as root');
    expect(err).toMatch(/^ {2}redis-server .*test\/redis/m);
    expect(err).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-server redis-tools',
    );
    expect(err).not.toMatch(/^ {2}prometheus /m); // not needed by test/redis
    expect(code).toBe(1);
    expect(out).not.toContain('=== vitest');
    expect(out + err).not.toContain('tsc -p');
    expect(existsSync(join(ROOT, 'test', 'redis', 'store.test.ts'))).toBe(true); // the filter named a real file
  });
});
