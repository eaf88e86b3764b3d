/**
 * The logrotate store against the real /usr/sbin/logrotate on temp log files:
 * size trigger, compression, max age, its own state file, logrotate's
 * permission rules, and the reopen signal of create mode (sent from Node, no
 * postrotate shell).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../dist/src/index.js';
import { Engine } from '../../dist/src/engine/engine.js';
import { FileJournal } from '../../dist/src/engine/file-journal.js';
import { LogrotateStore } from '../../dist/src/system/logrotate-store.js';
import { exited, NODE, tempDir, waitFor } from './support';

function rotation(paths: string[], extra: Record<string, unknown> = {}) {
  return resolveConfig({
    env: {},
    file: null,
    strict: true,
    code: { system: { logRotation: { paths, maxSize: '1k', rotate: 10, maxAge: 30, ...extra } } },
  }).config.system.logRotation;
}

async function setUp(extra: Record<string, unknown> = {}) {
  const logs = tempDir('logs');
  const state = tempDir('lr-state');
  const store = new LogrotateStore({ logRotation: rotation([join(logs, '*.log')], extra), stateDir: state });
  const engine = new Engine({ stores: [store], journal: new FileJournal(state) });
  return { logs, state, store, engine };
}

describe('logrotate store', () => {
  it('size trigger, compression, max age and its own state file', async () => {
    const { logs, store, engine } = await setUp();
    const big = Buffer.alloc(4096, 'a');
    writeFileSync(join(logs, 'big.log'), big);
    writeFileSync(join(logs, 'small.log'), 'only a few bytes\n');
    writeFileSync(join(logs, 'big.log.2.gz'), 'an archive from long ago');
    const longAgo = Date.now() / 1000 - 40 * 86400;
    utimesSync(join(logs, 'big.log.2.gz'), longAgo, longAgo);

    const applied = await engine.apply();
    expect(applied.ok, JSON.stringify(applied.failed)).toBe(true);
    const st = statSync(store.configPath);
    expect(st.mode & 0o777).toBe(0o644);
    expect(st.uid).toBe(process.getuid?.());

    const report = await store.rotate();
    expect(report.errors).toEqual([]);
    expect(report.rotated).toEqual([join(logs, 'big.log')]);
    expect(report.created).toContain(join(logs, 'big.log.1.gz'));
    expect(report.removed).toContain(join(logs, 'big.log.2.gz')); // older than maxAge
    expect(gunzipSync(readFileSync(join(logs, 'big.log.1.gz')))).toEqual(big);
    expect(statSync(join(logs, 'big.log')).size).toBe(0); // copytruncate
    expect(readFileSync(join(logs, 'small.log'), 'utf8')).toBe('only a few bytes\n');
    expect(readFileSync(store.statePath, 'utf8')).toContain(`"${join(logs, 'big.log')}"`);

    // Nothing above the size: a second run rotates nothing.
    const idle = await store.rotate();
    expect(idle.rotated).toEqual([]);
  });

  it('a config made group/world-writable is drift (logrotate would ignore it) and apply repairs the mode', async () => {
    const { store, engine } = await setUp();
    await engine.apply();
    chmodSync(store.configPath, 0o666);
    expect((await store.validate()).join('\n')).toMatch(/writable by group or others.*0644/);
    const v = await engine.verify();
    expect(v.drift.map((d) => d.key)).toEqual([store.configPath]);
    await engine.apply();
    expect(statSync(store.configPath).mode & 0o777).toBe(0o644);
    expect((await engine.verify()).inSync).toBe(true);
  });

  it('a log directory writable by others is explained, and logRotation.su fixes it', async () => {
    const { logs, store, engine } = await setUp();
    chmodSync(logs, 0o777);
    writeFileSync(join(logs, 'app.log'), Buffer.alloc(4096, 'b'));
    // logrotate -d reports the insecure parent before anything is written: the run is refused with the hint.
    await expect(engine.apply()).rejects.toMatchObject({
      code: 'TITAN_PERF_CONFIG_INVALID',
      message: expect.stringMatching(/system\.logRotation\.paths: .*insecure permissions.*system\.logRotation\.su/s),
    });
    expect(existsSync(store.configPath)).toBe(false);

    const fixed = new LogrotateStore({
      logRotation: rotation([join(logs, '*.log')], { su: 'root root' }),
      stateDir: tempDir('lr-su'),
    });
    const ok = await new Engine({ stores: [fixed], journal: new FileJournal(tempDir('lr-su-j')) }).apply();
    expect(ok.ok, JSON.stringify(ok.failed)).toBe(true);
    expect((await fixed.rotate()).rotated).toEqual([join(logs, 'app.log')]);
  });

  it('create mode: the writer gets its reopen signal from the sidecar, not from a shell', async () => {
    const dir = tempDir('lr-create');
    const log = join(dir, 'app.log');
    const pidFile = join(dir, 'app.pid');
    const marker = join(dir, 'reopened');
    // A writer that reopens its log on SIGHUP, as pino/winston apps do.
    const writer = spawn(NODE, [
      '-e',
      `const fs=require('fs');fs.writeFileSync(${JSON.stringify(log)},'x'.repeat(4096));fs.writeFileSync(${JSON.stringify(pidFile)},String(process.pid));` +
        `process.on('SIGHUP',()=>{fs.writeFileSync(${JSON.stringify(marker)},'1');process.exit(0)});setInterval(()=>{},1000);`,
    ]);
    try {
      await waitFor('the writer pid file', () => existsSync(pidFile) && existsSync(log));
      const state = tempDir('lr-create-state');
      const store = new LogrotateStore({
        logRotation: rotation([log], { mode: 'create', pidFile, compress: false }),
        stateDir: state,
      });
      expect((await new Engine({ stores: [store], journal: new FileJournal(state) }).apply()).ok).toBe(true);
      const report = await store.rotate();
      expect(report.errors).toEqual([]);
      expect(report.rotated).toEqual([log]);
      expect(report.signalled).toEqual([writer.pid]);
      await exited(writer);
      expect(readFileSync(marker, 'utf8')).toBe('1');
      expect(readdirSync(dir)).toContain('app.log.1');
    } finally {
      if (writer.exitCode === null) writer.kill('SIGKILL');
    }
  });
});
