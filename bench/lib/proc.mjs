// Child processes for the measurements: short runs timed from outside, and
// long-running fixtures that announce themselves with one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';
export const hasGnuTime = () => existsSync(GNU_TIME);

/**
 * Runs a command to completion and returns its wall time (ms, measured by
 * this process, so the spawn cost is the same for every variant) and, with
 * GNU time available, its peak RSS (MiB).
 */
export function timedRun(cmd, args, { env, timeoutMs = 60_000, okCodes = [0] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'titan-bench-'));
  const rssFile = join(dir, 'rss');
  const useTime = hasGnuTime();
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, argv, { env, timeout: timeoutMs, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let rssMiB = NaN;
  if (useTime && existsSync(rssFile)) {
    const kib = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    if (Number.isFinite(kib)) rssMiB = kib / 1024;
  }
  rmSync(dir, { recursive: true, force: true });
  if (!okCodes.includes(r.status)) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new Error(`${cmd} ${args.join(' ')} failed (${why}): ${(r.stderr || '').slice(-400)}`);
  }
  return { ms, rssMiB, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts a fixture and resolves once it prints a JSON line that `ready`
 * accepts (default: the first JSON line, e.g. `{"port":1234}`), with the
 * child and that object.
 */
export function startFixture(cmd, args, { env, timeoutMs = 30_000, ipc = false, ready = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])] });
    let out = '';
    let err = '';
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error(`fixture ${args.join(' ')} not ready in ${timeoutMs} ms: ${err.slice(-400)}`)),
      timeoutMs,
    );
    function fail(e) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    }
    child.stderr.on('data', (d) => {
      err += d;
      if (err.length > 20_000) err = err.slice(-10_000);
    });
    child.stdout.on('data', function onData(d) {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let info;
        try {
          info = JSON.parse(line);
        } catch {
          continue;
        }
        if (!ready(info)) continue;
        child.stdout.off('data', onData);
        child.stdout.resume();
        settled = true;
        clearTimeout(timer);
        return resolve({ child, info, stderr: () => err });
      }
    });
    child.on('exit', (code, signal) =>
      fail(new Error(`fixture ${args.join(' ')} exited (${code ?? signal}) before ready: ${err.slice(-400)}`)),
    );
  });
}

/** Runs a command and collects its stdout (for load generators and clients). */
export function runCollect(cmd, args, { env, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout: out, stderr: err });
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}): ${err.slice(-600)}`));
    });
  });
}

/** Stops a child and waits for it to be gone. */
export function stop(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asks an IPC fixture a question and waits for its answer. */
export function ask(child, message, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(message)}`)), timeoutMs);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.send(message);
  });
}

/** A TCP port free on 127.0.0.1 right now (for a child that must be told its port up front). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** What bench/fixtures/report-cpu.cjs printed at the process's exit ({} when it printed nothing). */
function reportedAtExit(stderr) {
  const m = /__bench_cpu (.+)/.exec(stderr);
  return m ? JSON.parse(m[1]) : {};
}

/** CPU time (ms, user + system) that bench/fixtures/report-cpu.cjs printed at the process's exit. */
export function reportedCpuMs(stderr) {
  const { user = NaN, system = NaN } = reportedAtExit(stderr);
  return (user + system) / 1000;
}

/** Wall time (ms) from the load of bench/fixtures/report-cpu.cjs (the first --require) to the exit event. */
export function reportedWallMs(stderr) {
  const { wallMs } = reportedAtExit(stderr);
  return typeof wallMs === 'number' ? wallMs : NaN;
}
