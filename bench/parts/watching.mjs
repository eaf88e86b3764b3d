// Accuracy of watching: event-loop blocks of known length induced in a
// service under the preload, against what the agent reports and how soon.
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { runCollect } from '../lib/proc.mjs';
import { median, round } from '../lib/stats.mjs';
import { FIXTURES, LIBRARY, PRELOAD, cleanEnv, hasPreload } from '../lib/subject.mjs';

export const id = 'watching';
export const title = 'Accuracy of watching: induced event-loop blocks vs what the agent reports';

const LENGTHS = [20, 50, 200, 1000];

export async function run({ quick, nodeBin, progress }) {
  if (!hasPreload()) return { status: 'not measured', notes: [`${PRELOAD} does not exist yet (the preload has not landed).`], comparisons: [], tables: [] };
  const repeats = quick ? 1 : 3;
  const sampleInterval = 1000;
  const parameters = { lengthsMs: LENGTHS, repeats, sampleIntervalMs: sampleInterval, maxEventLoopDelayMs: 10, order: 'interleaved lengths, repeated' };
  const blocks = Array.from({ length: repeats }, () => LENGTHS).flat();
  progress(`[${id}] ${blocks.length} blocks, one per ${sampleInterval} ms interval`);
  const env = cleanEnv({
    OTEL_METRICS_EXPORTER: 'none',
    TITAN_PERF_NODEJS__SAMPLE_INTERVAL: String(sampleInterval),
    TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
    BENCH_LIBRARY: LIBRARY,
    BENCH_BLOCKS: JSON.stringify(blocks),
  });
  const { stdout } = await runCollect(nodeBin, ['--require', PRELOAD, join(FIXTURES, 'blocking-service.cjs')], { env, timeoutMs: blocks.length * sampleInterval * 8 + 30_000 });
  const out = JSON.parse(stdout.trim().split('\n').pop());
  if (out.error) throw new Error(out.error);
  const by = (f) => Object.fromEntries(LENGTHS.map((L) => [`L${L}`, out.samples.filter((s) => s.target === L).map(f).filter((x) => x !== null)]));
  const variants = LENGTHS.map((L) => ({ id: `L${L}`, label: `${L} ms block` }));
  const common = { baseline: null, variants };
  const comparisons = [
    makeComparison({
      id: 'max-error',
      title: 'Reported max delay vs the true block length',
      unit: '% error',
      lowerIsBetter: true,
      samples: by((s) => (Math.abs(s.reportedMax - s.truth) / s.truth) * 100),
      targets: [{ variant: 'L50', kind: 'value-max', limit: 10, text: 'a 50 ms block: reported max within 10% of the truth (median)' }],
      note: 'Absolute error of the interval\'s reported event-loop max against the block\'s own clock, in percent of the block.',
      ...common,
    }),
    makeComparison({
      id: 'event-delay',
      title: 'Time from the end of a block to its performance-warning',
      unit: 'ms',
      lowerIsBetter: true,
      samples: by((s) => s.warningAfterMs),
      targets: [{ variant: 'L50', kind: 'max-max', limit: sampleInterval, text: `a 50 ms block: warning within 1 interval (${sampleInterval} ms), worst case` }],
      note: 'Only blocks that raised a warning have a sample; see the table for how many did.',
      ...common,
    }),
  ];
  const table = {
    title: 'Per block length (medians over repeats)',
    columns: ['block', 'true length ms', 'reported max ms', 'reported p99 ms', 'warnings raised', 'warning value (p99) ms', 'warning after ms'],
    rows: LENGTHS.map((L) => {
      const s = out.samples.filter((x) => x.target === L);
      const med = (f) => round(median(s.map(f).filter((x) => x !== null)));
      return [`${L} ms`, med((x) => x.truth), med((x) => x.reportedMax), med((x) => x.reportedP99), `${s.filter((x) => x.warned).length}/${s.length}`, med((x) => x.warningValue), med((x) => x.warningAfterMs)];
    }),
  };
  return {
    status: 'measured',
    parameters,
    notes: [
      `One service process under the preload with sampleInterval ${out.intervalMs} ms (the default is 5000; shorter here so the part takes seconds) and the default threshold maxEventLoopDelay ${out.threshold} ms on the interval's p99; warningCooldown 0 so every block can warn.`,
      'Each block starts a third into an interval (busy loop on the process\'s own clock); the agent\'s reading for that interval and the first performance-warning for eventLoop.delay.p99 after it are recorded.',
    ],
    comparisons,
    tables: [table],
    raw: out.samples,
  };
}
