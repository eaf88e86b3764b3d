/**
 * Event-loop stalls, end to end in real processes: a fixture blocks its own
 * loop on a seeded plan and prints what it measured; the preload must count
 * and warn each block at or above nodejs.maxEventLoopStall with its length,
 * name the blocking function, and report the count through a real
 * Prometheus (scraping at its default 15 s) and a real OTLP receiver.
 * Loaded 2-core machines stretch a turn beyond the block inside it, so the
 * fixture's own measurement of each block is the truth, waits are bounded
 * generously, and a stall the machine adds (no block under it) is tolerated.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { PRELOAD, fixture, jsonLines, runNode } from '../preload/run';
import { freePort } from '../helpers/redis-server';
import { startFixture } from '../telemetry/helpers/fixture-process';
import { allMetrics, startOtlpHttpReceiver } from '../telemetry/helpers/otlp-receiver';
import { startPrometheus } from '../telemetry/helpers/prometheus';

const THRESHOLD = 40;
const perIteration = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return (major === 24 && minor >= 19) || (major === 26 && minor >= 5) || major >= 27;
})();
/**
 * Per iteration a turn is measured exactly. The timer mode (Node 22) samples every 10 ms, so a stall's length is
 * known to one period: under loopback load a 50 ms block was reported as 57.2 ms.
 */
const tolerance = (ms: number) => Math.max(ms * 0.1, perIteration ? 2 : 10);
/**
 * More runnable threads than cores: the kernel parks the fixture for tens of
 * ms at a time, so a turn lasts longer than the block inside it and an idle
 * loop has stalls of its own. Then only what load cannot change is asserted
 * (never under-reported, counted, warned, named); the 10 % precision and the
 * zero-warning idle run are asserted on a machine that is not overloaded
 * (the precision under loopback load per iteration only: see checkPlan).
 */
const overloaded = () => os.loadavg()[0] > os.cpus().length;

interface Truth {
  kind: string;
  fn: string;
  startedAt: number;
  ms: number;
  end: number;
}
interface Stall {
  durationMs: number;
  cpuWait?: { minMs: number; maxMs: number };
  startedAt: number;
  startUncertaintyMs: number;
  self: boolean;
  seenAt: number;
  stack?: {
    frames: { function: string; file: string; line: number }[];
    kind: string;
    note?: string;
    pauseLatencyMs: number;
    pausedMs: number;
  };
}
interface Warning {
  metric: string;
  message: string;
  durationMs?: number;
  cpuWait?: { minMs: number; maxMs: number };
  since: number;
  seenAt: number;
  stack?: Stall['stack'];
}

/** mulberry32: the same plan on every run of one seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 20, 50, 100, 300 and 1000 ms blocks in a seeded order and at seeded times, the first within the first second. */
function seededPlan(seed: number): [number, string, number][] {
  const rnd = random(seed);
  const durations = [20, 50, 100, 300, 1000];
  for (let i = durations.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [durations[i], durations[j]] = [durations[j], durations[i]];
  }
  let at = 100 + Math.floor(rnd() * 700);
  return durations.map((ms) => {
    const step: [number, string, number] = [at, 'busy', ms];
    at += ms + 700 + Math.floor(rnd() * 600);
    return step;
  });
}

const stallEnv = {
  TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL: String(THRESHOLD),
  TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
  TITAN_PERF_NODEJS__STALL_CAPTURE__ENABLED: 'true',
  // Above the turns a loaded machine stretches on its own, so those do not use up the stacks a minute.
  TITAN_PERF_NODEJS__STALL_CAPTURE__THRESHOLD: '60',
  TITAN_PERF_NODEJS__STALL_CAPTURE__MAX_PER_MINUTE: '600',
};

/** An idle service exporting over OTLP every second, read every second, at the tests' stall threshold. */
function exportingEnv(url: string): Record<string, string> {
  return {
    TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL: String(THRESHOLD),
    TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
    TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '1000',
    TITAN_PERF_TELEMETRY__EXPORT_DELAY: '0',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  };
}

function parse(stdout: string) {
  const lines = jsonLines(stdout);
  return {
    truths: lines.filter((l) => l.truth).map((l) => l.truth as Truth),
    stalls: lines.filter((l) => l.stall).map((l) => l.stall as Stall),
    warnings: lines.filter((l) => l.warning).map((l) => l.warning as Warning),
    status: lines.find((l) => 'status' in l)?.status as Record<string, unknown> | undefined,
  };
}

/**
 * The report of a block: a turn that may overlap the block (it began between
 * `startedAt - startUncertaintyMs` and `startedAt`) and holds at least all of it; the closest in length.
 */
function reportOf(reports: Stall[], t: Truth, slackMs: number): Stall | undefined {
  return reports
    .filter((r) => {
      const d = r.durationMs;
      return (
        r.startedAt - r.startUncertaintyMs - slackMs <= t.end &&
        r.startedAt + d + slackMs >= t.startedAt &&
        d >= t.ms - tolerance(t.ms)
      );
    })
    .sort((a, b) => Math.abs((a.durationMs ?? 0) - t.ms) - Math.abs((b.durationMs ?? 0) - t.ms))[0];
}

async function runPlan(seed: number, load: boolean) {
  const plan = seededPlan(seed);
  const r = await runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
    ...stallEnv,
    STALL_PLAN: JSON.stringify(plan),
    STALL_LOAD: load ? '1' : '0',
  });
  expect(r.code, r.stderr).toBe(0);
  return { plan, ...parse(r.stdout), stderr: r.stderr };
}

function checkPlan({ truths, stalls, warnings, status }: ReturnType<typeof parse>, label: string) {
  const named: boolean[] = [];
  expect(truths.length, label).toBe(5);
  expect(status?.mode, label).toBe(perIteration ? 'per-iteration' : 'timer');
  // Nothing under the threshold is ever reported.
  for (const s of stalls) expect(s.durationMs, label).toBeGreaterThanOrEqual(THRESHOLD);
  for (const t of truths) {
    if (t.ms < THRESHOLD - tolerance(THRESHOLD)) {
      // The 20 ms block is not reported as a stall of its own length (every report is at or above the threshold, asserted above).
      continue;
    }
    if (t.ms < THRESHOLD + tolerance(THRESHOLD)) continue;
    const stall = reportOf(stalls, t, 5);
    expect(
      stall,
      `${label}: the ${t.ms.toFixed(1)} ms block is counted\n${JSON.stringify(truths)}\n${JSON.stringify(stalls)}`,
    ).toBeDefined();
    // On an overloaded machine titan-perf's own block can share the turn and take the blame for it.
    if (stall!.self && overloaded()) continue;
    expect(
      stall!.self,
      `${label}: the ${t.ms.toFixed(1)} ms block taken for titan-perf's own\n${JSON.stringify(truths)}\n${JSON.stringify(stalls)}`,
    ).toBe(false);
    // Never under-reported.
    expect(stall!.durationMs, `${label}: ${t.ms} ms reported as ${stall!.durationMs}`).toBeGreaterThanOrEqual(
      t.ms - tolerance(t.ms),
    );
    // The timer mode (Node 22) under load samples at its next timer, after the poll phase has
    // served the requests the block held back: the backlog can add tens of ms (50 ms read as
    // 87 ms once in CI). Per iteration, or idle, the length is exact within the tolerance.
    if (!overloaded() && (perIteration || label !== 'load'))
      expect(
        Math.abs(stall!.durationMs - t.ms),
        `${label}: ${t.ms} ms reported as ${stall!.durationMs}`,
      ).toBeLessThanOrEqual(tolerance(t.ms));
    console.log(
      `${label} Node ${process.versions.node}: block ${t.ms.toFixed(1)} ms, reported ${stall!.durationMs} ms, load ${os.loadavg()[0].toFixed(1)}`,
    );
    // The warning of that stall (cooldown 0: every stall warns).
    const warning = warnings.find(
      (w) =>
        w.metric === 'eventLoop.stall' &&
        w.since === stall!.startedAt &&
        Math.abs((w.durationMs ?? 0) - stall!.durationMs) < 0.1,
    );
    expect(warning, `${label}: the ${t.ms.toFixed(1)} ms block is warned`).toBeDefined();
    // Within a second of the block's end; the rest is slack for a loaded machine.
    expect(warning!.seenAt - t.end, label).toBeLessThan(2000);
    console.log(`${label}: warned ${warning!.seenAt - t.end} ms after the block's end`);
    if (t.ms >= 100 && warning!.stack?.frames.length) {
      // Inside the loop, or (a pause the kernel delayed) later in the same turn: the fixture's own code, never titan-perf's.
      for (const f of warning!.stack.frames)
        expect(f.file, `${label}: ${JSON.stringify(warning!.stack)}`).toMatch(/event-loop-stalls\.cjs$|^node:/);
    }
    if (t.ms >= 100 && warning!.stack) named.push(warning!.stack.frames.some((f) => f.function === 'busyLoop'));
  }
  // A watchdog thread the kernel parks can miss a stall's window or pause late; the 1000 ms block leaves it no excuse.
  expect(named.filter(Boolean).length, `${label}: stacks naming busyLoop`).toBeGreaterThanOrEqual(1);
  expect(Number(status?.stalls), label).toBeGreaterThanOrEqual(
    truths.filter((t) => t.ms >= THRESHOLD + tolerance(THRESHOLD)).length,
  );
}

describe('event-loop stalls', () => {
  it('every block at or above the threshold is counted and warned with its length and its function, idle', async () => {
    checkPlan(await runPlan(9001, false), 'idle');
  });

  it('the same under steady loopback load from a forked client', async () => {
    checkPlan(await runPlan(4242, true), 'load');
  });

  it('a stack for each kind of block, and the native ones say so', async () => {
    const kinds = ['busy', 'json', 'regex', 'pbkdf2', 'gzip', 'readfile'];
    const plan = kinds.map((k, i) => [1500 + i * 1200, k, 200]);
    const r = await runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
      ...stallEnv,
      STALL_PLAN: JSON.stringify(plan),
      STALL_TAIL_MS: '1200',
    });
    expect(r.code, r.stderr).toBe(0);
    const { truths, stalls } = parse(r.stdout);
    const seen: Record<string, string> = {};
    for (const t of truths) {
      if (t.ms < 100) continue; // this machine did it too fast for the watchdog's 60 ms
      // The stall whose turn holds the block: overlapping it, the closest in length.
      const w = stalls
        .filter(
          (x) =>
            !x.self &&
            x.stack &&
            x.startedAt - x.startUncertaintyMs - 5 <= t.end &&
            x.startedAt + x.durationMs + 5 >= t.startedAt,
        )
        .sort((a, b) => Math.abs(a.durationMs - t.ms) - Math.abs(b.durationMs - t.ms))[0];
      if (!w) {
        // A parked thread can merge two blocks into one turn; the busy loop is always asserted below.
        seen[t.kind] = 'merged';
        continue;
      }
      const stack = w!.stack!;
      seen[t.kind] = `${stack.kind} ${stack.frames[0]?.function ?? '-'}`;
      if (stack.kind === 'js') {
        // Paused inside the block: the fixture function is on the stack.
        expect(
          stack.frames.map((f) => f.function),
          t.kind,
        ).toContain(t.fn);
      } else {
        // Native code: either the JavaScript that called it, named, or no frame and a note that says why.
        expect(stack.note, t.kind).toMatch(/native code/);
        if (stack.frames.length > 0)
          expect(stack.frames.map((f) => f.function).join(','), t.kind).toMatch(new RegExp(`${t.fn}|^$|,`));
      }
    }
    // A JavaScript loop is interruptible: always a JavaScript stack.
    expect(seen.busy).toMatch(/busyLoop/);
    // One JSON line per stack on stderr.
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{"titan_perf":"event-loop-stall"'));
    expect(lines.length).toBeGreaterThanOrEqual(Object.values(seen).filter((v) => v !== 'merged').length);
    console.log(`stacks by kind on Node ${process.versions.node}: ${JSON.stringify(seen)}`);
  });

  it('a Prometheus scraping every 15 s sees every stall in the cumulative counter and histogram', async () => {
    const port = await freePort();
    // After the SDK has loaded (export delay 0): a block that shares a turn with titan-perf's own load can be taken for its own.
    const plan = [
      [2500, 'busy', 80],
      [3500, 'busy', 150],
      [4500, 'busy', 250],
    ];
    const app = startFixture(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
      ...stallEnv,
      TITAN_PERF_NODEJS__STALL_CAPTURE__ENABLED: 'false',
      TITAN_PERF_TELEMETRY__EXPORT_DELAY: '0',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      STALL_PLAN: JSON.stringify(plan),
      STALL_TAIL_MS: '45000',
    });
    const prom = await startPrometheus({ app: `127.0.0.1:${port}` }, 15);
    try {
      await app.waitForLine(/"truth".*"ms":2[5-9]\d/, 40_000);
      // A warning follows its stall within a second: wait for the third.
      const warnedBy = Date.now() + 10_000;
      const warnedCount = () => app.stdout.filter((l) => l.includes('"metric":"eventLoop.stall"')).length;
      while (warnedCount() < 3 && Date.now() < warnedBy) await new Promise((r) => setTimeout(r, 100));
      expect(warnedCount()).toBeGreaterThanOrEqual(3);
      let value = -1;
      const deadline = Date.now() + 50_000;
      while (Date.now() < deadline) {
        const res = await prom.query('titan_perf_eventloop_stalls_total');
        value = res.length ? Number(res[0].value[1]) : -1;
        const warnedNow = app.stdout.filter((l) => l.includes('"metric":"eventLoop.stall"')).length;
        if (value === warnedNow) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const warnedNow = app.stdout.filter((l) => l.includes('"metric":"eventLoop.stall"')).length;
      expect(value).toBe(warnedNow);
      const count = await prom.query('titan_perf_eventloop_stall_duration_count');
      expect(Number(count[0]?.value[1])).toBe(warnedNow);
    } finally {
      await prom.stop();
      app.child.kill();
    }
  }, 120_000);

  it('an idle service exporting over OTLP: titan-perf reports its own time, and the stall counter is cumulative', async () => {
    const receiver = await startOtlpHttpReceiver();
    // Idle through the SDK load and about eight exports, then two stalls, each half-way between two 1 s
    // readings: on Node 22 (timer mode) a block that starts right after a reading's reset can be missed
    // (docs/event-loop-stalls.md), and at whole seconds the blocks sat on the readings.
    const plan = [
      [8450, 'busy', 120],
      [9450, 'busy', 200],
    ];
    try {
      const r = await runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
        ...exportingEnv(receiver.url),
        STALL_PLAN: JSON.stringify(plan),
        STALL_TAIL_MS: '2500',
      });
      expect(r.code, r.stderr).toBe(0);
      const { truths, warnings, stalls, status } = parse(r.stdout);
      const firstBlock = Math.min(...truths.map((t) => t.startedAt));
      const early = warnings.filter((w) => w.seenAt < firstBlock);
      const earlyOwn = stalls.filter((x) => x.seenAt < firstBlock && x.self);
      console.log(
        `idle with OTLP export, Node ${process.versions.node}: ${early.length} warnings before the first block (${earlyOwn.length} stalls of titan-perf's own: ${earlyOwn.map((x) => x.durationMs).join(', ')} ms), titan-perf's own time ${String(status?.selfTimeMs)} ms, load ${os.loadavg()[0].toFixed(1)}${early.map((w) => ` | ${w.message}`).join('')}`,
      );
      // Here the stall threshold is 40 ms and exports run every second: the SDK load and the first
      // export make turns of 45-85 ms, titan-perf's own (self: true, never warned). A stall warned before
      // the first block must be one whose main thread may have waited half of it for a CPU (the machine's:
      // other test files share the 2 cores), but one: see the late collector's test below.
      const unexplained = early.filter(
        (w) => w.metric === 'eventLoop.stall' && !((w.cpuWait?.maxMs ?? 0) >= (w.durationMs ?? 0) / 2),
      );
      expect(unexplained.length, JSON.stringify(stalls.filter((x) => x.seenAt < firstBlock))).toBeLessThanOrEqual(
        overloaded() ? Infinity : 1,
      );
      expect(Number(status?.selfTimeMs)).toBeGreaterThan(0);
      const counts = allMetrics(receiver)
        .filter((m) => m.name === 'titan_perf.eventloop.stalls')
        .map((m) => m.points[0]?.value ?? 0);
      // Cumulative: the total stays in every later export instead of going back to 0.
      const last = counts[counts.length - 1];
      expect(last).toBe(warnings.filter((w) => w.metric === 'eventLoop.stall').length);
      expect(last).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
      expect(allMetrics(receiver).some((m) => m.name === 'titan_perf.self.time')).toBe(true);
    } finally {
      await receiver.close();
    }
  }, 90_000);

  it("a late collector's answer that Node counts into a turn is not the app's stall", async () => {
    // A collector that answers 40 ms late: Node 24 and 26 then can record a per-iteration sample longer
    // than the loop's whole activity around it (measured: 43-58 ms in a second of 25-39 ms of activity),
    // in the second after the SDK load. Before the check-phase boundary of each stall scan, the bound over
    // two readings (the SDK load in them) let one through in nearly every run; now in 1 of 14 alone and
    // 2 of 18 in CI (both on Node 26). At most two of three runs: the old bound fails that, the new one rarely.
    const receiver = await startOtlpHttpReceiver({ delayMs: 40 });
    try {
      const runs = await Promise.all(
        [0, 1, 2].map((i) =>
          new Promise((r) => setTimeout(r, i * 700)).then(() =>
            runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
              ...exportingEnv(receiver.url),
              STALL_PLAN: '[]',
              STALL_TAIL_MS: '3000',
            }),
          ),
        ),
      );
      const perRun = runs.map((r) => {
        expect(r.code, r.stderr).toBe(0);
        return parse(r.stdout).stalls;
      });
      const stalls = perRun.flat();
      // Titan-perf's own (the SDK load, the first export) and the machine's are told apart; the rest is not the app's.
      const unexplained = stalls.filter((x) => !x.self && !((x.cpuWait?.maxMs ?? 0) >= x.durationMs / 2));
      console.log(
        `late collector, Node ${process.versions.node}: ${stalls.length} stalls in 3 runs, ${stalls.filter((x) => x.self).length} titan-perf's own, ${unexplained.length} neither its own nor the machine's, load ${os.loadavg()[0].toFixed(1)}`,
      );
      // Counted by run: the claim is about runs with such a stall.
      const runsWith = perRun.filter((r) => r.some((x) => unexplained.includes(x))).length;
      expect(runsWith, JSON.stringify(unexplained)).toBeLessThanOrEqual(overloaded() ? Infinity : 2);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it.concurrent('bad thresholds name the field and the app still starts with the defaults', async () => {
    const cases: [string, string][] = [
      ['TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL', '0'],
      ['TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL', '-5'],
      ['TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL', '1e12'],
      ['TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL', 'soon'],
      ['TITAN_PERF_NODEJS__STALL_CAPTURE__THRESHOLD', '0'],
      ['TITAN_PERF_NODEJS__STALL_CAPTURE__MAX_PER_MINUTE', '-1'],
    ];
    await Promise.all(
      cases.map(async ([name, value]) => {
        const r = await runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
          [name]: value,
          STALL_TAIL_MS: '0',
        });
        expect(r.code, r.stderr).toBe(0);
        const field =
          name === 'TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL'
            ? 'nodejs.maxEventLoopStall'
            : name.includes('THRESHOLD')
              ? 'nodejs.stallCapture.threshold'
              : 'nodejs.stallCapture.maxPerMinute';
        expect(r.stderr).toContain(field);
        expect(r.stderr).toMatch(/a number from|an integer from/);
        const { status } = parse(r.stdout);
        expect(status?.stallThreshold).toBe(100);
      }),
    );
  });

  it.concurrent('process.exit() with the watchdog attached: the exit code stays, and no debugger line on stderr', async () => {
    const r = await runNode(['-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
      ...stallEnv,
      STALL_PLAN: JSON.stringify([[1000, 'busy', 200]]),
      STALL_TAIL_MS: '300',
      STALL_EXIT_CODE: '7',
    });
    expect(r.code, r.stderr).toBe(7);
    // A stack was taken, so the watchdog's inspector session was open when the app exited.
    expect(parse(r.stdout).stalls.some((s) => s.stack && s.stack.frames.length > 0)).toBe(true);
    // Node prints this for a session still connected to the main thread at process.exit().
    expect(r.stderr).not.toContain('Waiting for the debugger');
  });

  it.concurrent('beside --inspect the watchdog stays off and says why', async () => {
    const r = await runNode(['--inspect=127.0.0.1:0', '-r', PRELOAD, fixture('event-loop-stalls.cjs')], {
      ...stallEnv,
      STALL_TAIL_MS: '800',
    });
    expect(r.code, r.stderr).toBe(0);
    const { status } = parse(r.stdout);
    const wd = status?.watchdog as { state: string; reason: string };
    expect(wd.state).toBe('off');
    expect(wd.reason).toMatch(/inspector/);
  });
});
