/**
 * NODE_OPTIONS is inherited by every child process, and Node resolves a bare
 * `--require titan-perf/preload` from the child's working directory before
 * any code of ours runs: a child started elsewhere fails to start. The
 * package's `titan-perf node-options` prints an entry with the absolute path,
 * which resolves from anywhere. Tested with the packed package installed in a
 * fresh app: a child in another directory, `child_process.fork`, an npm
 * script, and the --import form.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../telemetry/helpers/fixture-process';
import { jsonLines, ROOT, runNode } from './run';

let base: string;
let app: string;
let elsewhere: string;

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], cwd: string, env: Record<string, string>): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: cleanEnv(env), timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'titan-perf-path-'));
  // --ignore-scripts: dist is what the suite just built; `prepare` would rebuild it under other engineers' feet.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', base], { cwd: ROOT, stdio: 'ignore' });
  const tgz = readdirSync(base).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack produced no tarball in ${base}`);
  app = join(base, 'app');
  elsewhere = join(base, 'elsewhere');
  mkdirSync(app);
  mkdirSync(elsewhere);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(base, tgz)], {
    cwd: app,
    stdio: 'ignore',
    timeout: 280_000,
  });
  // A directory titan-perf is not reachable from: another service, a tool, a test runner.
  writeFileSync(
    join(elsewhere, 'child.cjs'),
    `console.log(JSON.stringify({ child: true, agent: typeof globalThis[Symbol.for('titan-perf.agent')], cwd: process.cwd() }));`,
  );
  writeFileSync(
    join(elsewhere, 'package.json'),
    JSON.stringify({ name: 'other', version: '1.0.0', private: true, scripts: { probe: 'node child.cjs' } }),
  );
  writeFileSync(
    join(app, 'spawn-elsewhere.cjs'),
    `const { spawnSync } = require('node:child_process');
     const r = spawnSync(process.execPath, ['child.cjs'], { cwd: ${JSON.stringify(elsewhere)}, encoding: 'utf8' });
     console.log(JSON.stringify({ status: r.status, out: r.stdout, err: r.stderr.split('\\n').find((l) => /Error|Cannot/.test(l)) || '' }));`,
  );
  writeFileSync(
    join(app, 'fork-elsewhere.cjs'),
    `const { fork } = require('node:child_process');
     const c = fork(${JSON.stringify(join(elsewhere, 'child.cjs'))}, [], { cwd: ${JSON.stringify(elsewhere)}, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
     let out = '';
     c.stdout.on('data', (d) => (out += d));
     c.on('exit', (status) => console.log(JSON.stringify({ status, out })));`,
  );
}, 300_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

/** The child's own JSON line, from inside the parent's report. */
function child(parentStdout: string): { status: number; child?: { agent: string; cwd: string }; err: string } {
  const r = jsonLines(parentStdout)[0] as { status: number; out: string; err?: string };
  return {
    status: r.status,
    child: jsonLines(r.out ?? '')[0] as { agent: string; cwd: string } | undefined,
    err: r.err ?? '',
  };
}

describe(`a preload path that resolves from anywhere (Node ${process.version})`, () => {
  it('the bare specifier breaks a child started in another directory (why the absolute form exists)', async () => {
    const r = await runNode(['spawn-elsewhere.cjs'], { NODE_OPTIONS: '--require titan-perf/preload' }, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    const c = child(r.stdout);
    expect(c.status).toBe(1);
    expect(c.err).toContain("Cannot find module 'titan-perf/preload'");
  });

  it('titan-perf node-options: a child elsewhere, a fork and an npm script all start with the agent', async () => {
    const printed = await exec('npx', ['--no-install', 'titan-perf', 'node-options'], app, {});
    expect(printed.code, printed.stderr).toBe(0);
    const entry = printed.stdout.trim();
    expect(entry).toBe(`--require ${join(app, 'node_modules', 'titan-perf', 'dist', 'preload', 'index.js')}`);
    const path = await exec('npx', ['--no-install', 'titan-perf', 'preload-path'], app, {});
    expect(`--require ${path.stdout.trim()}`).toBe(entry);

    const env = { NODE_OPTIONS: entry };
    const [spawned, forked, script] = await Promise.all([
      runNode(['spawn-elsewhere.cjs'], env, 60_000, app),
      runNode(['fork-elsewhere.cjs'], env, 60_000, app),
      exec('npm', ['run', '--silent', 'probe'], elsewhere, env),
    ]);
    for (const r of [spawned, forked]) {
      expect(r.code, r.stderr).toBe(0);
      const c = child(r.stdout);
      expect(c.status, c.err).toBe(0);
      expect(c.child).toMatchObject({ agent: 'object', cwd: elsewhere });
    }
    expect(script.code, script.stderr).toBe(0);
    expect(script.stderr).toBe('');
    expect(jsonLines(script.stdout)[0]).toMatchObject({ child: true, agent: 'object', cwd: elsewhere });
  });

  it('the --import form (a file URL) works from another directory too', async () => {
    const printed = await exec('npx', ['--no-install', 'titan-perf', 'node-options', '--import'], app, {});
    expect(printed.stdout.trim()).toMatch(
      /^--import file:\/\/\/.*\/node_modules\/titan-perf\/dist\/preload\/index\.js$/,
    );
    const r = await runNode(['spawn-elsewhere.cjs'], { NODE_OPTIONS: printed.stdout.trim() }, 60_000, app);
    const c = child(r.stdout);
    expect(c.status, c.err).toBe(0);
    expect(c.child?.agent).toBe('object');
  });

  it('NODE_PATH makes the bare --require resolve elsewhere, but not the bare --import (ESM ignores NODE_PATH)', async () => {
    const nodePath = join(app, 'node_modules');
    const req = await runNode(
      ['spawn-elsewhere.cjs'],
      { NODE_OPTIONS: '--require titan-perf/preload', NODE_PATH: nodePath },
      60_000,
      app,
    );
    expect(child(req.stdout).child?.agent).toBe('object');
    const imp = await runNode(
      ['spawn-elsewhere.cjs'],
      { NODE_OPTIONS: '--import titan-perf/preload', NODE_PATH: nodePath },
      60_000,
      app,
    );
    expect(child(imp.stdout).status).toBe(1);
  });

  it('an unknown command: exit 2, a message naming the commands, nothing printed on stdout', async () => {
    const r = await exec('npx', ['--no-install', 'titan-perf', 'preload-paht'], app, {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('expected one of: preload-path, node-options, help');
    expect(r.stderr).toContain('TITAN_PERF_INVALID_ARGUMENT');
  });
});
