/**
 * Where the stack of a stall goes, end to end in real processes with the
 * preload and the watchdog on: the OpenTelemetry log record an app with its
 * own LoggerProvider (the real SDK, an in-memory exporter) receives, and
 * frames mapped back to the TypeScript source when the app runs with source
 * maps. Blocks are hundreds of ms, well above the watchdog's threshold, so a
 * loaded machine still gets a stack inside them.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRELOAD, ROOT, fixture, jsonLines, runNode } from '../preload/run';

const stallEnv = {
  TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL: '40',
  TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
  TITAN_PERF_NODEJS__STALL_CAPTURE__ENABLED: 'true',
  // Above the turns a loaded machine stretches on its own, far below the blocks.
  TITAN_PERF_NODEJS__STALL_CAPTURE__THRESHOLD: '60',
  TITAN_PERF_NODEJS__STALL_CAPTURE__MAX_PER_MINUTE: '600',
};

interface Frame {
  function: string;
  file: string;
  line: number;
  column: number;
  generated?: { file: string; line: number; column: number };
}
interface Stall {
  durationMs: number;
  self: boolean;
  stack?: { frames: Frame[]; kind: string; note?: string; sourceMapped?: boolean };
}
interface LogRecord {
  severityNumber: number;
  severityText: string;
  body: string;
  attributes: Record<string, unknown>;
  scope: string;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'titan-perf-stall-stack-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function stallsOf(stdout: string): Stall[] {
  return jsonLines(stdout)
    .filter((l) => l.stall)
    .map((l) => l.stall as Stall);
}

describe('the OpenTelemetry log record of a stall', () => {
  /** An app directory of its own, with its own node_modules, outside the titan-perf checkout. */
  function makeApp(name = 'app', otel = join(ROOT, 'node_modules', '@opentelemetry')): { dir: string; main: string } {
    const dir = join(tmp, name);
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    cpSync(fixture('stall-otel-logs.cjs'), join(dir, 'main.cjs'));
    rmSync(join(dir, 'node_modules', '@opentelemetry'), { force: true });
    symlinkSync(otel, join(dir, 'node_modules', '@opentelemetry'));
    return { dir, main: join(dir, 'main.cjs') };
  }

  function check(r: { code: number | null; stdout: string; stderr: string }, label: string, app = 'app'): void {
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    const loopLine = lines.find((l) => 'loopLine' in l)?.loopLine as number;
    const records = lines.find((l) => 'records' in l)?.records as LogRecord[] | undefined;
    expect(records, `${label}: the app printed its records\n${r.stdout}`).toBeDefined();
    // Every reported stall with a stack (the ones titan-perf writes out), and nothing else, is one record.
    const reported = stallsOf(r.stdout).filter((s) => !s.self && s.stack);
    const stderrLines = r.stderr.split('\n').filter((l) => l.startsWith('{"titan_perf":"event-loop-stall"'));
    expect(stderrLines.length, label).toBe(reported.length);
    const ours = records!.filter((x) => x.scope === 'titan-perf');
    expect(
      ours.map((x) => x.attributes['titan_perf.stall.duration_ms']).sort(),
      `${label}: one record per reported stall\n${JSON.stringify(reported)}\n${JSON.stringify(records)}`,
    ).toEqual(reported.map((s) => s.durationMs).sort());
    // The blocks are hundreds of ms: at least one was paused inside the loop on any machine.
    const named = ours.filter((x) => x.attributes['code.function.name'] === 'blockTheLoop');
    expect(named.length, `${label}: records naming blockTheLoop\n${JSON.stringify(records)}`).toBeGreaterThanOrEqual(1);
    for (const x of named) {
      expect(x.severityNumber).toBe(13);
      expect(x.severityText).toBe('WARN');
      expect(x.body).toMatch(/^event loop blocked for [\d.]+ ms in blockTheLoop .*main\.cjs:\d+$/);
      expect(x.attributes['code.file.path']).toBe(join(tmp, app, 'main.cjs'));
      expect(x.attributes['code.line.number']).toBe(loopLine);
      expect(x.attributes['code.column.number']).toEqual(expect.any(Number));
      expect(x.attributes['code.stacktrace']).toMatch(/^ {4}at blockTheLoop \(.*main\.cjs:\d+:\d+\)/);
      expect(x.attributes['titan_perf.stall.duration_ms']).toBeGreaterThanOrEqual(250);
      expect(x.attributes['titan_perf.stall.kind']).toMatch(/^(js|native)$/);
      expect(x.attributes['event.name']).toBe('titan_perf.eventloop.stall');
    }
    console.log(
      `${label}, Node ${process.versions.node}: ${reported.length} stalls with a stack, ${ours.length} records, ${named.length} naming blockTheLoop, load ${os.loadavg()[0].toFixed(1)}`,
    );
  }

  const plan = JSON.stringify([
    [800, 300],
    [2000, 500],
  ]);

  it('an app run from its own directory gets one record per reported stall, with the stack', async () => {
    const app = makeApp();
    const r = await runNode(['-r', PRELOAD, app.main], { ...stallEnv, STALL_PLAN: plan }, 60_000, app.dir);
    check(r, 'installed preload, cwd = the app');
  });

  it('the same with the zero-install bundle and the app started from another directory', async () => {
    const app = makeApp();
    // The bundle's folder has no node_modules, and neither has the cwd: only the app's global registration is there.
    const bundle = join(tmp, 'titan-perf');
    cpSync(join(ROOT, 'dist', 'preload-bundle'), bundle, { recursive: true });
    const r = await runNode(
      ['-r', join(bundle, 'preload.js'), app.main],
      { ...stallEnv, STALL_PLAN: plan },
      60_000,
      tmp,
    );
    check(r, 'zero-install bundle, cwd elsewhere');
  });

  // The bench's own install has the older layout (api 1.9, api-logs and sdk-logs 0.x); only there in a checkout that ran `npm --prefix bench install`.
  const legacy = join(ROOT, 'bench', 'node_modules', '@opentelemetry');
  it.skipIf(!existsSync(join(legacy, 'api-logs')))(
    'an app on @opentelemetry/api-logs (before the logs API moved into the API) gets the same records',
    async () => {
      const app = makeApp('legacy-app', legacy);
      const r = await runNode(
        ['-r', PRELOAD, app.main],
        { ...stallEnv, STALL_PLAN: plan, LOGS_API: '@opentelemetry/api-logs' },
        60_000,
        app.dir,
      );
      check(r, 'api-logs', 'legacy-app');
    },
  );
});

describe('frames of a stall in TypeScript compiled with source maps', () => {
  let blockerJs: string;
  let blockerTs: string;
  let loopLine: number;
  beforeAll(async () => {
    const dir = join(tmp, 'ts');
    mkdirSync(join(dir, 'src'), { recursive: true });
    blockerTs = join(dir, 'src', 'blocker.ts');
    cpSync(fixture('stall-source-map/blocker.ts'), blockerTs);
    await build({
      entryPoints: [blockerTs],
      outdir: join(dir, 'dist'),
      format: 'cjs',
      platform: 'node',
      sourcemap: true,
      logLevel: 'silent',
    });
    blockerJs = join(dir, 'dist', 'blocker.js');
    loopLine =
      readFileSync(blockerTs, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('// the block')) + 1;
    // Otherwise a frame left unmapped could pass for a mapped one.
    const jsLine = readFileSync(blockerJs, 'utf8')
      .split('\n')
      .findIndex((l) => l.includes('while (performance.now() < end)'));
    expect(jsLine + 1).not.toBe(loopLine);
    expect(readFileSync(`${blockerJs}.map`, 'utf8')).toContain('blocker.ts');
  });

  async function run(nodeArgs: string[], env: Record<string, string>) {
    const r = await runNode([...nodeArgs, '-r', PRELOAD, fixture('stall-source-map.cjs')], {
      ...stallEnv,
      BLOCKER: blockerJs,
      STALL_PLAN: JSON.stringify([
        [800, 300],
        [1800, 500],
      ]),
      STALL_TAIL_MS: '1000',
      ...env,
    });
    expect(r.code, r.stderr).toBe(0);
    const stalls = stallsOf(r.stdout).filter((s) => !s.self && s.stack?.frames[0]?.function === 'spinFor');
    expect(stalls.length, `stalls paused in spinFor\n${r.stdout}`).toBeGreaterThanOrEqual(1);
    return { stalls, stderr: r.stderr, enabled: jsonLines(r.stdout).find((l) => 'sourceMapsEnabled' in l) };
  }

  function expectMapped(stalls: Stall[], stderr: string, label: string): void {
    for (const s of stalls) {
      const top = s.stack!.frames[0];
      expect(top.file, label).toBe(blockerTs);
      expect(top.line, label).toBe(loopLine);
      expect(top.generated?.file, label).toBe(blockerJs);
      expect(top.generated?.line, label).not.toBe(loopLine);
      expect(s.stack!.sourceMapped, label).toBe(true);
    }
    // The JSON line on stderr carries the same mapped frame.
    expect(stderr, label).toContain(`"file":${JSON.stringify(blockerTs)},"line":${loopLine}`);
    console.log(`${label}, Node ${process.versions.node}: ${JSON.stringify(stalls[0].stack!.frames[0])}`);
  }

  it('with --enable-source-maps the top frame is the .ts file and line', async () => {
    const { stalls, stderr } = await run(['--enable-source-maps'], {});
    expectMapped(stalls, stderr, '--enable-source-maps');
  });

  it('with process.setSourceMapsEnabled(true) in the app, the same', async () => {
    const { stalls, stderr, enabled } = await run([], { SET_SOURCE_MAPS: '1' });
    expect(enabled?.sourceMapsEnabled).toBe(true);
    expectMapped(stalls, stderr, 'setSourceMapsEnabled(true)');
  });

  it('without source maps the frame stays on the .js that ran', async () => {
    const { stalls, enabled } = await run([], {});
    expect(enabled?.sourceMapsEnabled).toBe(false);
    for (const s of stalls) {
      expect(s.stack!.frames[0].file).toBe(blockerJs);
      expect(s.stack!.frames[0].generated).toBeUndefined();
      expect(s.stack!.sourceMapped).toBeUndefined();
    }
  });
});
