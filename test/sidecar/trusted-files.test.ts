/**
 * Files the sidecar trusts while it may be root: the logrotate writer's pid
 * file, the config file, the state directory and its journal. A symlink, a
 * FIFO, /dev/zero, a huge file, a pid that is not the writer's, a directory
 * others can write and a journal entry of the wrong shape are refused quickly
 * with a coded message that never quotes the file; nothing is signalled or
 * written. Risky cases run in a child process with a deadline, so a hang or a
 * stray signal shows up as a failure, not as a frozen or killed test runner.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileJournal } from '../../dist/src/engine/file-journal.js';
import { resolveConfig } from '../../dist/src/index.js';
import { renderLogrotateConfig } from '../../dist/src/system/logrotate-config.js';
import { LogrotateStore } from '../../dist/src/system/logrotate-store.js';
import {
  baseConfig,
  fakeProcRoot,
  guardHost,
  NODE,
  readFakeSysctl,
  ROOT,
  runCli,
  tempDir,
  waitFor,
  writeJson,
} from './support';

const LIB = join(ROOT, 'dist/src');
guardHost();

/** Applies a create-mode logrotate config for `log` and rotates once, in a child; its report, or how it died. */
function rotateInChild(log: string, pidFile: string, timeoutMs = 15_000) {
  const state = tempDir('pid-state');
  const script = `
    const { Engine } = require(${JSON.stringify(LIB)} + '/engine/engine.js'); const { FileJournal } = require(${JSON.stringify(LIB)} + '/engine/file-journal.js'); const { LogrotateStore } = require(${JSON.stringify(LIB)} + '/system/logrotate-store.js'); const { resolveConfig } = require(${JSON.stringify(LIB)} + '/index.js');
    (async () => {
      const cfg = resolveConfig({ env: {}, file: null, strict: true, code: { system: { logRotation: {
        paths: [${JSON.stringify(log)}], maxSize: '1k', mode: 'create', compress: false, pidFile: ${JSON.stringify(pidFile)} } } } }).config;
      const store = new LogrotateStore({ logRotation: cfg.system.logRotation, stateDir: ${JSON.stringify(state)} });
      await new Engine({ stores: [store], journal: new FileJournal(${JSON.stringify(state)}) }).apply();
      const report = await store.rotate();
      process.stdout.write(JSON.stringify(report));
    })();`;
  const started = Date.now();
  const r = spawnSync(NODE, ['-e', script], { encoding: 'utf8', timeout: timeoutMs });
  return {
    ms: Date.now() - started,
    signal: r.signal,
    status: r.status,
    report: r.stdout ? JSON.parse(r.stdout) : undefined,
    stderr: r.stderr,
  };
}

function bigLog(dir: string): string {
  const log = join(dir, 'app.log');
  writeFileSync(log, Buffer.alloc(4096, 'x'));
  return log;
}

/** A process that would be hurt by a stray SIGHUP (the default action ends it). */
function victim() {
  return spawn(NODE, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

describe('the logrotate pid file', () => {
  it('a pid file naming the sidecar itself is refused, the sidecar survives', () => {
    const dir = tempDir('pid-self');
    const pidFile = join(dir, 'app.pid');
    // The child writes its own pid before rotating: an operator's mistake or a planted file.
    const log = bigLog(dir);
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));`;
    const state = tempDir('pid-self-state');
    const r = spawnSync(
      NODE,
      [
        '-e',
        `${script}
      const { Engine } = require(${JSON.stringify(LIB)} + '/engine/engine.js'); const { FileJournal } = require(${JSON.stringify(LIB)} + '/engine/file-journal.js'); const { LogrotateStore } = require(${JSON.stringify(LIB)} + '/system/logrotate-store.js'); const { resolveConfig } = require(${JSON.stringify(LIB)} + '/index.js');
      (async () => {
        const cfg = resolveConfig({ env: {}, file: null, strict: true, code: { system: { logRotation: {
          paths: [${JSON.stringify(log)}], maxSize: '1k', mode: 'create', compress: false, pidFile: ${JSON.stringify(pidFile)} } } } }).config;
        const store = new LogrotateStore({ logRotation: cfg.system.logRotation, stateDir: ${JSON.stringify(state)} });
        await new Engine({ stores: [store], journal: new FileJournal(${JSON.stringify(state)}) }).apply();
        process.stdout.write(JSON.stringify(await store.rotate()));
      })();`,
      ],
      { encoding: 'utf8', timeout: 15_000 },
    );
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rotated).toEqual([log]);
    expect(report.signalled).toEqual([]);
    expect(report.errors.join('\n')).toMatch(/names the sidecar itself/);
  });

  it('a pid reused by a process started after the pid file was written is not signalled', async () => {
    const dir = tempDir('pid-reused');
    const pidFile = join(dir, 'app.pid');
    const log = bigLog(dir);
    const other = victim();
    try {
      writeFileSync(pidFile, String(other.pid));
      // The file was written an hour ago, by a writer that has since exited; the pid now belongs to someone else.
      const hourAgo = Date.now() / 1000 - 3600;
      utimesSync(pidFile, hourAgo, hourAgo);
      const r = rotateInChild(log, pidFile);
      expect(r.report.signalled).toEqual([]);
      expect(r.report.errors.join('\n')).toMatch(/started after .*app\.pid was written.*reused/);
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it("a pid file owned by another user naming someone else's process is not signalled", async () => {
    const dir = tempDir('pid-owner');
    const pidFile = join(dir, 'app.pid');
    const log = bigLog(dir);
    const other = victim(); // runs as root
    try {
      writeFileSync(pidFile, String(other.pid));
      chownSync(pidFile, 4242, 4242);
      const r = rotateInChild(log, pidFile);
      expect(r.report.signalled).toEqual([]);
      expect(r.report.errors.join('\n')).toMatch(/runs as uid 0, but .* belongs to uid 4242/);
      expect(other.signalCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('a symlinked, group-writable, FIFO, /dev/zero or huge pid file is refused within seconds, nothing signalled', async () => {
    const dir = tempDir('pid-files');
    const other = victim();
    try {
      await waitFor('the victim', () => other.pid);
      const real = join(dir, 'real.pid');
      writeFileSync(real, String(other.pid));
      const cases: [string, () => string, RegExp][] = [
        ['symlink', () => (symlinkSync(real, join(dir, 'link.pid')), join(dir, 'link.pid')), /symbolic link/],
        [
          'group-writable',
          () => (
            writeFileSync(join(dir, 'gw.pid'), String(other.pid)),
            chmodSync(join(dir, 'gw.pid'), 0o664),
            join(dir, 'gw.pid')
          ),
          /writable by others/,
        ],
        [
          'fifo',
          () => (execFileSync('mkfifo', [join(dir, 'fifo.pid')]), join(dir, 'fifo.pid')),
          /a FIFO, not a regular file/,
        ],
        ['/dev/zero', () => '/dev/zero', /a character device, not a regular file/],
        [
          'huge',
          () => (
            truncateSync(join(dir, 'huge.pid'), 0),
            truncateSync(join(dir, 'huge.pid'), 3 * 1024 ** 3),
            join(dir, 'huge.pid')
          ),
          /bytes; at most 64/,
        ],
      ];
      writeFileSync(join(dir, 'huge.pid'), '');
      for (const [name, make, why] of cases) {
        const logDir = tempDir(`pid-${name.replace(/\W/g, '')}`);
        const r = rotateInChild(bigLog(logDir), make());
        expect(r.signal, `${name}: the child was killed (hung or out of memory)`).toBeNull();
        expect(r.ms, name).toBeLessThan(15_000);
        expect(r.report.signalled, name).toEqual([]);
        expect(r.report.errors.join('\n'), name).toMatch(why);
      }
      expect(other.signalCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('the config file', () => {
  it('a FIFO, /dev/zero or a huge file as --config or TITAN_PERF_CONFIG exits 2 at once, naming the file', async () => {
    const dir = tempDir('cfg-files');
    const fifo = join(dir, 'config.yaml');
    execFileSync('mkfifo', [fifo]);
    const huge = join(dir, 'huge.yaml');
    writeFileSync(huge, '');
    truncateSync(huge, 64 * 1024 ** 2);
    for (const [args, env, why] of [
      [['--config', fifo], {}, /a FIFO, not a regular file/],
      [[], { TITAN_PERF_CONFIG: fifo }, /a FIFO, not a regular file/],
      [['--config', '/dev/zero'], {}, /a character device, not a regular file/],
      [['--config', huge], {}, /67108864 bytes; at most 1048576/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const started = Date.now();
      const r = await runCli(['plan', '--state-dir', tempDir('cfg-state'), ...args], { env, timeout: 20_000 });
      expect(r.code, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  });

  it('a config file that parses to a scalar (a secret named by mistake) is not echoed', async () => {
    const dir = tempDir('cfg-secret');
    const secret = join(dir, 'shadow');
    writeFileSync(secret, 'root:$y$j9T$SECRETHASH:19000:0:99999:7:::\n');
    const r = await runCli(['plan', '--config', secret, '--state-dir', tempDir('cfg-secret-state')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\(unrecognised key\)/);
    expect(r.stderr).not.toContain('SECRETHASH');
    const json = join(dir, 'passwd.json');
    writeFileSync(json, 'root:x:0:0:SECRETNAME:/root:/bin/bash\n');
    const j = await runCli(['plan', '--config', json, '--state-dir', tempDir('cfg-secret-state')]);
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/valid JSON/);
    expect(j.stderr).not.toContain('root:x');
  });
});

describe('files named by the Redis section', () => {
  it('a FIFO as redis.passwordFile or redis.tlsCaFile is refused at once, not waited on', async () => {
    const dir = tempDir('redis-files');
    const fifo = join(dir, 'secret');
    execFileSync('mkfifo', [fifo]);
    for (const redis of [{ passwordFile: fifo }, { tls: true, tlsCaFile: fifo }]) {
      const config = writeJson(dir, 'c.json', {
        redis: { enabled: true, port: 1, connectRetries: 0, connectTimeout: 1000, ...redis },
        system: { enabled: false },
      });
      const started = Date.now();
      const r = await runCli(['plan', '--config', config, '--state-dir', tempDir('redis-files-state')], {
        timeout: 20_000,
      });
      expect(r.code, `${JSON.stringify(redis)}: killed by the deadline means it hung`).not.toBeNull();
      expect(r.stdout + r.stderr).toMatch(/a FIFO, not a regular file/);
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  });
});

describe('the state directory and the journal', () => {
  const somaxconn = { 'net.core.somaxconn': '4096' };
  const config = (dir: string) =>
    writeJson(dir, 'config.json', baseConfig({ kernelParams: { netCoreSomaxconn: 65535 } }));

  it('a world- or group-writable state directory, or one owned by another user, is refused before anything is written', async () => {
    for (const [name, prepare] of [
      ['world-writable', (d: string) => chmodSync(d, 0o777)],
      ['group-writable', (d: string) => chmodSync(d, 0o770)],
      ['owned by another user', (d: string) => chownSync(d, 4242, 4242)],
    ] as [string, (d: string) => void][]) {
      const dir = tempDir('state-perm');
      const state = join(dir, 'state');
      mkdirSync(state, { mode: 0o700 });
      prepare(state);
      const root = fakeProcRoot(somaxconn);
      const r = await runCli(['apply', '--config', config(dir), '--state-dir', state, '--proc-root', root]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr, name).toMatch(/the state directory .* (writable by|owned by uid 4242)/);
      expect(r.stderr, name).toMatch(/TITAN_PERF_STATE_DIR_UNSAFE/);
      expect(readFakeSysctl(root, 'net.core.somaxconn'), name).toBe('4096');
      expect(readdirSync(state), name).toEqual([]);
    }
  });

  it('a journal that is a symlink to /etc/passwd is refused without echoing a byte of it', async () => {
    const dir = tempDir('journal-link');
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    symlinkSync('/etc/passwd', join(state, 'journal.json'));
    const root = fakeProcRoot(somaxconn);
    const r = await runCli(['rollback', '--config', config(dir), '--state-dir', state, '--proc-root', root]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/symbolic link/);
    expect(r.stdout + r.stderr).not.toMatch(/root:x|root:/);
  });

  it('a journal writable by others is refused: a tampered original is never restored', async () => {
    const dir = tempDir('journal-mode');
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const journal = join(state, 'journal.json');
    writeFileSync(
      journal,
      JSON.stringify({
        version: 1,
        entries: [{ store: 'sysctl', key: 'net.core.somaxconn', original: '128', at: 1, owner: 'x' }],
      }),
    );
    chmodSync(journal, 0o666);
    const root = fakeProcRoot({ 'net.core.somaxconn': '65535' });
    const r = await runCli(['rollback', '--config', config(dir), '--state-dir', state, '--proc-root', root]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/writable by every user/);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');
  });

  it('a journal entry of the wrong shape is refused before anything is written to procfs', async () => {
    for (const original of [{ nested: true }, 42, ['1'], undefined]) {
      const dir = tempDir('journal-shape');
      const state = join(dir, 'state');
      mkdirSync(state, { mode: 0o700 });
      const entry: Record<string, unknown> = { store: 'sysctl', key: 'net.core.somaxconn', at: 1, owner: 'x' };
      if (original !== undefined) entry.original = original;
      writeFileSync(join(state, 'journal.json'), JSON.stringify({ version: 1, entries: [entry] }), { mode: 0o600 });
      const root = fakeProcRoot({ 'net.core.somaxconn': '65535' });
      const r = await runCli(['rollback', '--config', config(dir), '--state-dir', state, '--proc-root', root]);
      expect(r.code, JSON.stringify(original)).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/TITAN_PERF_JOURNAL_CORRUPT|entry 0: 'original' is neither text nor null/);
      expect(readFakeSysctl(root, 'net.core.somaxconn'), JSON.stringify(original)).toBe('65535');
    }
  });

  it('temp files are created O_EXCL|O_NOFOLLOW: symlinks planted under guessable names are never followed', async () => {
    const dir = tempDir('journal-plant');
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const target = join(dir, 'victim.txt');
    writeFileSync(target, 'untouched\n', { mode: 0o600 });
    // The names derived from the pid that earlier versions wrote through: this process's own.
    for (const name of [`journal.json.${process.pid}.tmp`, `logrotate.conf.${process.pid}.tmp`])
      symlinkSync(target, join(state, name));
    const journal = new FileJournal(state);
    await journal.recordOriginal({
      store: 'sysctl',
      key: 'net.core.somaxconn',
      original: '4096',
      at: Date.now(),
      owner: 'test',
    });
    const logs = tempDir('plant-logs');
    const rotation = resolveConfig({
      env: {},
      file: null,
      strict: true,
      code: { system: { logRotation: { paths: [join(logs, '*.log')] } } },
    }).config.system.logRotation;
    const store = new LogrotateStore({ logRotation: rotation, stateDir: state });
    await store.write(store.configPath, renderLogrotateConfig(rotation));
    expect(readFileSync(target, 'utf8')).toBe('untouched\n');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(await journal.originals()).toHaveLength(1);
    expect(lstatSync(store.configPath).isFile()).toBe(true);
  });
});
