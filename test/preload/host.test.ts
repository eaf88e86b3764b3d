/**
 * The preload never harms the host: exit codes, stdout and time to exit are
 * those of the app alone; no signal or exit listeners; one agent however often
 * it is loaded; inactive in worker threads; off with TITAN_PERF_DISABLED=1;
 * reachable from CommonJS and ESM through the package's getAgent().
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, ROOT, runNode } from './run';

interface Report {
  agent: boolean;
  slot: string;
  status?: { running: boolean; thread: string; tuning: { name: string; state: string }[] };
  listeners: Record<string, number>;
  fetchWrapped: boolean;
}

function report(stdout: string): Report {
  return jsonLines(stdout)[0] as unknown as Report;
}

describe(`the preload and its host (Node ${process.version})`, () => {
  it('keeps the exit code, stdout and listeners of the app', async () => {
    const env = { EXIT_CODE: '7', APP_OUTPUT: 'line one\nline two\n' };
    const [plain, tuned] = await Promise.all([
      runNode([fixture('agent-report.cjs')], env),
      runNode(['--require', PRELOAD, fixture('agent-report.cjs')], env),
    ]);
    expect(plain.code).toBe(7);
    expect(tuned.code).toBe(7);
    expect(tuned.stdout.split('\n').slice(0, 2)).toEqual(['line one', 'line two']);
    expect(tuned.stderr).toBe('');
    const a = report(plain.stdout);
    const b = report(tuned.stdout);
    expect(a.agent).toBe(false);
    expect(b.agent).toBe(true);
    expect(b.status).toMatchObject({ running: true, thread: 'main' });
    expect(b.listeners).toEqual(a.listeners);
    expect(Object.values(b.listeners).every((n) => n === 0)).toBe(true);
  });

  it('an app that throws fails the same way', async () => {
    const args = ['-e', 'console.log("before"); throw new Error("app failure")'];
    const [plain, tuned] = await Promise.all([runNode(args), runNode(['--require', PRELOAD, ...args])]);
    expect(tuned.code).toBe(plain.code);
    expect(tuned.code).toBe(1);
    expect(tuned.stdout).toBe(plain.stdout);
    expect(tuned.stderr).toContain('app failure');
  });

  it('a short script exits as soon as without the preload (nothing keeps it alive)', async () => {
    const plain: number[] = [];
    const tuned: number[] = [];
    // Interleaved runs, compared by median: the machine is shared and noisy.
    for (let i = 0; i < 5; i++) {
      const p = await runNode([fixture('short-script.cjs')]);
      const t = await runNode(['--require', PRELOAD, fixture('short-script.cjs')]);
      expect(t.stdout).toBe(p.stdout);
      expect(t.code).toBe(0);
      plain.push(p.ms);
      tuned.push(t.ms);
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    // A live timer or socket would hold the process for a whole sample interval (5 s).
    expect(median(tuned)).toBeLessThan(median(plain) + 1000);
  });

  it('loaded twice (--require twice, --require and --import, two copies of the package) starts one agent', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'titan-perf-copy-'));
    cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
    const secondCopy = join(copy, 'dist', 'preload', 'index.js');
    const script = [
      'const a = require(process.env.APP_ENTRY);',
      'const b = require(process.env.APP_SECOND_ENTRY);',
      'fetch("http://127.0.0.1:1/").catch(() => {}).then(() => {',
      '  const agent = a.getAgent();',
      '  console.log(JSON.stringify({ same: agent === b.getAgent(), live: Boolean(agent),',
      '    fetch: agent && agent.status().tuning.find((t) => t.name === "fetch").state }));',
      '});',
    ].join('\n');
    const env = {
      APP_ENTRY: join(ROOT, 'dist', 'src', 'index.js'),
      APP_SECOND_ENTRY: join(copy, 'dist', 'src', 'index.js'),
    };
    for (const flags of [
      ['--require', PRELOAD, '--require', PRELOAD],
      ['--require', PRELOAD, '--import', PRELOAD],
      ['--require', PRELOAD, '--require', secondCopy],
      ['--import', secondCopy, '--require', PRELOAD],
    ]) {
      const r = await runNode([...flags, '-e', script], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, flags.join(' ')).toBe('');
      // Two agents would have wrapped fetch twice, and the first one would then find a foreign dispatcher.
      expect(jsonLines(r.stdout)[0], flags.join(' ')).toEqual({ same: true, live: true, fetch: 'tuned' });
    }
    rmSync(copy, { recursive: true, force: true });
  });

  it('is inactive in worker threads, which inherit it', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('worker-app.cjs')]);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)[0]).toEqual({ main: true, worker: false, workerFetchWrapped: false });
  });

  it('TITAN_PERF_DISABLED=1 turns it off entirely', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('agent-report.cjs')], { TITAN_PERF_DISABLED: '1' });
    expect(r.code).toBe(0);
    expect(report(r.stdout)).toMatchObject({ agent: false, slot: 'undefined', fetchWrapped: false });
  });

  it('tuneFetch / tuneHttpAgents false: nothing is wrapped or replaced, and status() says why', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('agent-report.cjs')], {
      TITAN_PERF_NODEJS__TUNE_FETCH: 'false',
      TITAN_PERF_NODEJS__TUNE_HTTP_AGENTS: 'false',
    });
    expect(r.code, r.stderr).toBe(0);
    const out = report(r.stdout) as Report & { status: { tuning: { name: string; state: string; reason?: string }[] } };
    expect(out.fetchWrapped).toBe(false);
    expect(out.status.tuning).toEqual([
      { name: 'fetch', state: 'off', reason: 'nodejs.tuneFetch is false' },
      { name: 'http.globalAgent', state: 'off', reason: 'nodejs.tuneHttpAgents is false' },
      { name: 'https.globalAgent', state: 'off', reason: 'nodejs.tuneHttpAgents is false' },
    ]);
  });

  it('works with --import, and ESM apps get getAgent() as a named import', async () => {
    for (const flags of [
      ['--import', PRELOAD],
      ['--require', PRELOAD],
    ]) {
      const r = await runNode([...flags, fixture('agent-report.mjs')]);
      expect(r.code, r.stderr).toBe(0);
      expect(jsonLines(r.stdout)[0]).toMatchObject({
        agent: true,
        isRuntimeAgent: true,
        tuning: ['fetch:armed', 'http.globalAgent:armed', 'https.globalAgent:armed'],
      });
    }
    const none = await runNode([fixture('agent-report.mjs')]);
    expect(jsonLines(none.stdout)[0]).toEqual({ agent: false, isRuntimeAgent: false });
  });
});
