// The benchmark harness itself: it runs the quick mode of real parts and
// writes well-formed results. No speed is asserted here: the numbers belong
// in bench/results/, and this machine is shared and noisy.
import { fork, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM without types
import { ROOT } from '../helpers/paths';
import { makeComparison } from '../../bench/lib/comparison.mjs';
// @ts-expect-error plain ESM without types
import { columnsAcrossRuns, runSpreadPct, targetsAcrossRuns } from '../../bench/lib/across-runs.mjs';
// @ts-expect-error plain ESM without types
import { interleave } from '../../bench/lib/interleave.mjs';
// @ts-expect-error plain ESM without types
import { median, quantile, summarize } from '../../bench/lib/stats.mjs';
// @ts-expect-error plain ESM without types
import { barChart } from '../../bench/lib/svg.mjs';

const out = mkdtempSync(join(tmpdir(), 'titan-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every element opened is closed, in order: enough to catch a broken hand-written SVG. */
function assertBalancedXml(xml: string) {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

describe('statistics', () => {
  it('takes medians, nearest-rank quantiles and min..max from raw samples', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(hundred, 0.5)).toBe(50);
    expect(quantile(hundred, 0.99)).toBe(99);
    expect(quantile(hundred, 0.999)).toBe(100);
    expect(summarize([3, Number.NaN, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 });
  });

  it('states every variant against the baseline as a ratio of medians and checks targets', () => {
    const c = makeComparison({
      id: 'x',
      title: 'x',
      unit: 'ms',
      baseline: 'a',
      lowerIsBetter: true,
      variants: [
        { id: 'a', label: 'A' },
        { id: 'b', label: 'B' },
        { id: 'missing', label: 'never ran' },
      ],
      samples: { a: [10, 12, 11], b: [15, 14, 30] },
      targets: [
        { variant: 'b', kind: 'delta-max', limit: 3, text: 'b adds <= 3' },
        { variant: 'b', kind: 'ratio-max', limit: 2, text: 'b <= 2x a' },
        { variant: 'missing', kind: 'delta-max', limit: 1, text: 'not run' },
      ],
    });
    expect(c.rows.map((r: { id: string }) => r.id)).toEqual(['a', 'b']);
    const b = c.rows[1];
    expect([b.median, b.min, b.max, b.n, b.delta]).toEqual([15, 14, 30, 3, 4]);
    expect(b.ratio).toBeCloseTo(15 / 11, 3);
    // Round by round: 15-10, 14-12, 30-11.
    expect(b.pairedDelta).toBe(5);
    expect(b.samples).toEqual([15, 14, 30]);
    expect(c.targets.map((t: { ok: boolean | null }) => t.ok)).toEqual([false, true, null]);
  });

  it('interleaves variants, alternating their order each round', async () => {
    const seen: string[] = [];
    const samples = await interleave({
      label: 't',
      variants: [{ id: 'a' }, { id: 'b' }],
      rounds: 3,
      progress: () => {},
      measure: async (v: { id: string }, round: number) => {
        seen.push(v.id);
        return { value: round };
      },
    });
    expect(seen).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
    expect(samples.value).toEqual({ a: [0, 1, 2], b: [0, 1, 2] });
  });

  it('draws one bar and one min..max whisker per variant, escaping labels', () => {
    const c = makeComparison({
      id: 'x',
      title: 'T <&>',
      unit: 'ms',
      baseline: 'a',
      lowerIsBetter: true,
      variants: [
        { id: 'a', label: 'a & b' },
        { id: 'b', label: 'B' },
      ],
      samples: { a: [1, 2, 3], b: [2, 4, 8] },
    });
    const svg = barChart(c);
    assertBalancedXml(svg);
    expect(svg).toContain('T &lt;&amp;&gt;');
    expect(svg.match(/<rect [^>]*fill="#(9aa5b1|3b7dd8)"/g)).toHaveLength(2);
  });
});

describe('bench/run.mjs', () => {
  it('rejects an unknown part with the list of parts and exit 2', async () => {
    const r = await runBench(['--only', 'nonsense', '--no-build', '--no-install', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown part nonsense');
    for (const part of [
      'startup',
      'throughput',
      'steady',
      'pooling',
      'network',
      'shortjob',
      'watching',
      'sidecar',
      'gc',
    ])
      expect(r.stderr).toContain(part);
  });

  it('runs the quick mode of the start-up and GC parts and writes JSON, Markdown and SVG', async () => {
    const r = await runBench(['--quick', '--only', 'startup,gc', '--no-build', '--no-install', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/machine: .+ cores/);
    expect(r.stderr).toMatch(/\[gc\] round 2\/2/);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.mode).toBe('quick');
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node.version).toBe(process.version);
    expect(results.machine.loadAverageAtStart).toHaveLength(3);
    expect(Object.keys(results.parts)).toEqual(['startup', 'gc']);

    const gc = results.parts.gc;
    expect(gc.status).toBe('measured');
    expect(gc.parameters.rounds).toBe(2);
    for (const c of gc.comparisons) {
      expect(c.baseline).toBe('default');
      expect(c.rows.map((row: { id: string }) => row.id)).toEqual(['default', 'semi-4', 'semi-16', 'semi-64']);
      for (const row of c.rows) {
        expect(row.samples).toHaveLength(2);
        expect(row.min).toBeLessThanOrEqual(row.median);
        expect(row.median).toBeLessThanOrEqual(row.max);
      }
    }

    const startup = results.parts.startup;
    expect(['measured', 'partial']).toContain(startup.status);
    const ms = startup.comparisons.find((c: { id: string }) => c.id === 'ms');
    const bare = ms.rows.find((row: { id: string }) => row.id === 'bare');
    expect(bare.samples).toHaveLength(3);
    expect(bare.samples.every((x: number) => x > 0)).toBe(true);
    // Whatever did not run says why instead of showing a number.
    const measured = new Set(ms.rows.map((row: { id: string }) => row.id));
    if (!measured.has('titan')) expect(startup.notes.join('\n')).toContain('titan-perf: not measured');

    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('## GC advice');
    expect(report).toContain('| variant | median (ms) |');
    const charts = readdirSync(out).filter((f) => f.endsWith('.svg'));
    expect(charts.length).toBe(startup.comparisons.length + gc.comparisons.length);
    for (const chart of charts) {
      expect(report).toContain(`](${chart})`);
      const svg = readFileSync(join(out, chart), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      assertBalancedXml(svg);
    }
  }, 300_000);

  it('--repeat 2 runs the part twice in full and puts the runs side by side before the detail', async () => {
    const dir = join(out, 'repeat');
    const r = await runBench(['--quick', '--only', 'gc', '--repeat', '2', '--no-build', '--no-install', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/part gc \(run 1\/2\)/);
    expect(r.stderr).toMatch(/part gc \(run 2\/2\)/);
    const gc = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).parts.gc;
    expect(gc.parameters.rounds).toBe(2);
    const across = gc.tables.find((t: { id: string }) => t.id === 'across-runs');
    expect(across.columns).toEqual(['comparison', 'variant', 'run 1', 'run 2', 'median of runs', 'spread %']);
    // One row per variant of every comparison, and one more for each variant's paired difference to its baseline.
    const expected = gc.comparisons.reduce(
      (k: number, c: { rows: unknown[]; baseline: string | null }) =>
        k + (c.baseline ? 2 * c.rows.length - 1 : c.rows.length),
      0,
    );
    expect(across.rows).toHaveLength(expected);
    expect(across.rows.some((row: string[]) => row[1].endsWith('paired difference to default'))).toBe(true);
    for (const row of across.rows) {
      expect(Number.isFinite(Number(row[2])), row.join(' ')).toBe(true);
      expect(Number.isFinite(Number(row[3])), row.join(' ')).toBe(true);
      // A spread needs a median other than 0 (a count of 0 GCs has none).
      expect(String(row[5])).toMatch(/^(\d+(\.\d+)?|–)$/);
    }
    expect(across.rows.some((row: string[]) => Number(row[2]) > 0 && Number(row[3]) > 0)).toBe(true);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report.indexOf('Across 2 full runs')).toBeGreaterThan(0);
    expect(report.indexOf('Across 2 full runs')).toBeLessThan(report.indexOf('| variant | median (ms) |'));
    expect(gc.notes.join('\n')).toMatch(/Run 2 times in full/);
  }, 300_000);

  it('--repeat takes an integer from 1 to 10 and says so', async () => {
    for (const bad of ['0', '11', 'two', '1.5']) {
      const r = await runBench(['--repeat', bad, '--only', 'gc', '--no-build', '--no-install', '--out', out]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain('--repeat: an integer from 1 to 10');
    }
  });
});

describe('results across full runs', () => {
  it("matches rows on their key cells and puts each run's cell side by side, without its min..max", () => {
    const table = (rows: string[][]) => ({ title: 'Claim', columns: ['path', 'scenario', 'p50', 'claim'], rows });
    const runs = [
      {
        tables: [
          table([
            ['HTTP 2 ms', 'burst', '0.7 (0.6..0.8)', 'holds'],
            ['HTTP 2 ms', 'idle', '1.1 (1..1.2)', 'does not hold'],
          ]),
        ],
      },
      // Rows in another order, one row missing: matched by key, the gap shown as a dash.
      { tables: [table([['HTTP 2 ms', 'idle', '0.9 (0.8..1)', 'does not hold']])] },
      {
        tables: [
          table([
            ['HTTP 2 ms', 'burst', '0.85 (0.8..0.9)', 'does not hold'],
            ['HTTP 2 ms', 'idle', '1 (1..1)', 'does not hold'],
          ]),
        ],
      },
    ];
    const t = columnsAcrossRuns(runs, {
      tableTitle: 'Claim',
      keyColumns: 2,
      byRunColumns: [2, 3],
      title: 'T',
      note: '',
    });
    expect(t?.columns).toEqual(['path', 'scenario', 'p50, by run', 'claim, by run']);
    expect(t?.rows).toEqual([
      ['HTTP 2 ms', 'burst', '0.7 / – / 0.85', 'holds / – / does not hold'],
      ['HTTP 2 ms', 'idle', '1.1 / 0.9 / 1', 'does not hold / does not hold / does not hold'],
    ]);
  });

  it('says in how many runs each target was met', () => {
    const run = (measured: number, ok: boolean) => ({
      comparisons: [{ id: 'c', rows: [], targets: [{ text: 'adds <= 10 ms', measured, ok }] }],
    });
    const t = targetsAcrossRuns([run(8.2, true), run(12.4, false), run(9.9, true)]);
    expect(t?.columns).toEqual(['target', 'run 1', 'run 2', 'run 3', 'met in']);
    expect(t?.rows).toEqual([['adds <= 10 ms', '8.2', '12.4', '9.9', '2 of 3']]);
    expect(targetsAcrossRuns([{ comparisons: [] }, { comparisons: [] }])).toBeUndefined();
  });

  it('states the spread between runs as (max - min) / median of the run medians', () => {
    expect(runSpreadPct([1, 1.1, 0.9])).toBeCloseTo(20, 6);
    expect(runSpreadPct([5])).toBeNaN();
    expect(runSpreadPct([2, Number.NaN, 2])).toBe(0);
  });
});

describe('the network part, quick mode', () => {
  it('runs clients through the delaying proxy and states the claim per scenario with connections counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'titan-bench-network-'));
    try {
      const r = await runBench(['--quick', '--only', 'network', '--no-build', '--no-install', '--out', dir]);
      expect(r.code, r.stderr).toBe(0);
      const part = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).parts.network;
      if (part.status === 'not measured') {
        expect(part.notes.join('\n')).toContain('does not exist yet');
        return;
      }
      expect(part.status).toBe('measured');
      const claim = part.tables.find((t: { first?: boolean }) => t.first);
      // Quick mode: HTTP and HTTPS at 2 ms, steady and burst, fetch and http.request preloaded.
      expect(claim.rows.length).toBeGreaterThanOrEqual(4);
      for (const row of claim.rows) expect(String(row[8])).toMatch(/holds|does not hold|not measured/);
      const handshakes = part.comparisons.find((c: { id: string }) => c.id === 'ratio-handshakes');
      expect(handshakes.rows.length).toBeGreaterThan(0);
      // Every run opened at least one connection through the proxy.
      const detail = part.tables.filter((t: { title: string }) => t.title.includes('through the proxy'));
      for (const t of detail) for (const row of t.rows) expect(row[5]).toBeGreaterThanOrEqual(1);
      expect(part.parameters.loadAverage1m.length).toBeGreaterThanOrEqual(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('the delaying proxy of the network part', () => {
  it('delays each direction by half the round trip, keeps bytes in order and counts connections per origin', async () => {
    // A real TCP echo upstream on port 0; the proxy in its own process, as the part runs it.
    const upstream = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const proxy = fork(join(ROOT, 'bench', 'fixtures', 'delay-proxy.cjs'), [], {
      env: { ...process.env, BENCH_PROXY: JSON.stringify([{ group: 'g', oneWayMs: 25, upstreamPort, ports: 2 }]) },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    try {
      const ports: number[] = await new Promise((resolve) =>
        proxy.stdout!.once('data', (d) => resolve(JSON.parse(String(d)).ports.g)),
      );
      expect(ports).toHaveLength(2);
      const roundTrip = (port: number) =>
        new Promise<{ ms: number; echoed: string }>((resolve, reject) => {
          const t0 = performance.now();
          const socket = connect(port, '127.0.0.1', () => socket.end('a'.repeat(1000) + 'b'.repeat(1000)));
          let echoed = '';
          socket.on('data', (d) => (echoed += d));
          socket.on('end', () => resolve({ ms: performance.now() - t0, echoed }));
          socket.on('error', reject);
        });
      const first = await roundTrip(ports[0]);
      await roundTrip(ports[1]);
      await roundTrip(ports[1]);
      expect(first.echoed).toBe('a'.repeat(1000) + 'b'.repeat(1000));
      // Connect (through the proxy's accept, no delay) then data out and back: at least one 50 ms round trip.
      expect(first.ms).toBeGreaterThanOrEqual(50);
      const ask = (m: string) =>
        new Promise<Record<string, unknown>>((resolve) => (proxy.once('message', resolve), proxy.send(m)));
      expect(await ask('stats')).toEqual({ g: { connections: 3, ports: [1, 2] } });
      const delays = (await ask('delays')) as Record<string, { chunks: number; p50: number }>;
      expect(delays['25'].chunks).toBeGreaterThan(0);
      expect(delays['25'].p50).toBeGreaterThanOrEqual(25);
    } finally {
      proxy.kill();
      upstream.close();
    }
  }, 30_000);
});
