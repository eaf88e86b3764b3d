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
/** nodejs.maxEventLoopStall for this part: below every block length, so each block is a stall to report. */
const STALL_THRESHOLD_MS = 15;

async function blocksUnderPreload({ nodeBin, sampleInterval, repeats, progress }) {
  // Lengths interleaved (20 50 200 1000 20 50 ...), so load drift spreads over all of them.
  const blocks = Array.from({ length: repeats }, () => LENGTHS).flat();
  progress(`[${id}] ${blocks.length} blocks, one per ${sampleInterval} ms interval`);
  const env = cleanEnv({
    OTEL_METRICS_EXPORTER: 'none',
    TITAN_PERF_NODEJS__SAMPLE_INTERVAL: String(sampleInterval),
    TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
    TITAN_PERF_NODEJS__MAX_EVENT_LOOP_STALL: String(STALL_THRESHOLD_MS),
    BENCH_LIBRARY: LIBRARY,
    BENCH_BLOCKS: JSON.stringify(blocks),
  });
  const { stdout } = await runCollect(nodeBin, ['--require', PRELOAD, join(FIXTURES, 'blocking-service.cjs')], {
    env,
    timeoutMs: blocks.length * sampleInterval * 4 + 30_000,
  });
  const out = JSON.parse(stdout.trim().split('\n').pop());
  if (out.error) throw new Error(out.error);
  return out;
}

function report(out, suffix, withAccuracyTargets) {
  const interval = out.intervalMs;
  const by = (f) =>
    Object.fromEntries(
      LENGTHS.map((L) => [
        `L${L}`,
        out.samples
          .filter((s) => s.target === L)
          .map(f)
          .filter((x) => x !== null),
      ]),
    );
  const variants = LENGTHS.map((L) => ({ id: `L${L}`, label: `${L} ms block` }));
  const common = { baseline: null, variants };
  const comparisons = [
    makeComparison({
      id: `max-error-${interval}`,
      title: `Reported max delay vs the true block length${suffix}`,
      unit: '% error',
      lowerIsBetter: true,
      samples: by((s) => (Math.abs(s.reportedMax - s.truth) / s.truth) * 100),
      targets: withAccuracyTargets
        ? [
            {
              variant: 'L50',
              kind: 'value-max',
              limit: 10,
              text: `a 50 ms block: reported max within 10% of the truth (median, ${interval} ms interval)`,
            },
          ]
        : [],
      note: "Absolute error of the interval's reported event-loop max against the block's own clock, in percent of the block.",
      ...common,
    }),
    makeComparison({
      id: `warned-${interval}`,
      title: `Blocks that raised a warning in their own interval${suffix}`,
      unit: '% of blocks',
      lowerIsBetter: false,
      samples: Object.fromEntries(
        Object.entries(by((s) => (s.warned ? 100 : 0))).map(([k, v]) => [
          k,
          [v.reduce((a, b) => a + b, 0) / (v.length || 1)],
        ]),
      ),
      note: "The share of blocks of each length whose interval reading raised the eventLoop.delay.p99 warning. That threshold is for sustained delay (it counts once three turns of an interval were that slow): a single block is the stall threshold's to report, below.",
      ...common,
    }),
    makeComparison({
      id: `event-delay-${interval}`,
      title: `Time from the end of a block to its p99 warning${suffix}`,
      unit: 'ms',
      lowerIsBetter: true,
      samples: by((s) => s.warningAfterMs),
      note: 'Only blocks whose own interval raised the p99 warning have a sample; the chart above says how many did.',
      ...common,
    }),
    makeComparison({
      id: `stall-error-${interval}`,
      title: `Reported stall length vs the true block length${suffix}`,
      unit: '% error',
      lowerIsBetter: true,
      samples: by((s) => (s.stallMs === null ? null : (Math.abs(s.stallMs - s.truth) / s.truth) * 100)),
      targets: [
        {
          variant: 'L50',
          kind: 'value-max',
          limit: 10,
          text: `a 50 ms block: its stall reported within 10% of the truth (median, ${interval} ms interval)`,
        },
      ],
      note: "The stall event (`event-loop-stall`) whose turn held the block: its durationMs against the block's own clock. The turn holds the block and the rest of that turn's work, so it is never shorter.",
      ...common,
    }),
    makeComparison({
      id: `stall-warned-${interval}`,
      title: `Blocks that raised a stall warning${suffix}`,
      unit: '% of blocks',
      lowerIsBetter: false,
      samples: {
        ...Object.fromEntries(
          Object.entries(by((s) => (s.stallWarned ? 100 : 0))).map(([k, v]) => [
            k,
            [v.reduce((a, b) => a + b, 0) / (v.length || 1)],
          ]),
        ),
        all: [(out.samples.filter((s) => s.stallWarned).length / (out.samples.length || 1)) * 100],
      },
      targets: [
        {
          variant: 'all',
          kind: 'min-min',
          limit: 100,
          text: `every block at or above nodejs.maxEventLoopStall (${STALL_THRESHOLD_MS} ms) raises a stall warning (${interval} ms interval)`,
        },
      ],
      note: "The share of blocks whose stall raised a performance-warning of metric eventLoop.stall within 1.5 s of the block's end.",
      baseline: null,
      variants: [...variants, { id: 'all', label: 'every block' }],
    }),
    makeComparison({
      id: `stall-event-delay-${interval}`,
      title: `Time from the end of a block to its stall warning${suffix}`,
      unit: 'ms',
      lowerIsBetter: true,
      samples: {
        ...by((s) => s.stallWarningAfterMs),
        all: out.samples.map((s) => s.stallWarningAfterMs).filter((x) => x !== null),
      },
      targets: [
        {
          variant: 'all',
          kind: 'max-max',
          limit: 1000,
          text: `every stall warning within 1 s of the block's end, worst case (${interval} ms interval)`,
        },
      ],
      note: 'The stall scan runs once a second, on its own timer: whatever sampleInterval is.',
      baseline: null,
      variants: [...variants, { id: 'all', label: 'every block' }],
    }),
  ];
  const table = {
    title: `Per block length${suffix} (medians over repeats)`,
    columns: [
      'block',
      'true length ms',
      'reported max ms',
      'reported p99 ms',
      'warned in its interval',
      'warning value (p99) ms',
      'warning after ms',
      'stall reported ms',
      'stall warned',
      'stall warning after ms',
    ],
    rows: LENGTHS.map((L) => {
      const s = out.samples.filter((x) => x.target === L);
      const med = (f) => round(median(s.map(f).filter((x) => x !== null)));
      return [
        `${L} ms`,
        med((x) => x.truth),
        med((x) => x.reportedMax),
        med((x) => x.reportedP99),
        `${s.filter((x) => x.warned).length}/${s.length}`,
        med((x) => x.warningValue),
        med((x) => x.warningAfterMs),
        med((x) => x.stallMs),
        `${s.filter((x) => x.stallWarned).length}/${s.length}`,
        med((x) => x.stallWarningAfterMs),
      ];
    }),
  };
  return { comparisons, table };
}

export async function run({ quick, nodeBin, progress }) {
  if (!hasPreload())
    return {
      status: 'not measured',
      notes: [`${PRELOAD} does not exist yet (the preload has not landed).`],
      comparisons: [],
      tables: [],
    };
  const parameters = {
    lengthsMs: LENGTHS,
    repeatsAt1s: quick ? 1 : 3,
    repeatsAtDefault: quick ? 0 : 1,
    maxEventLoopDelayMs: 10,
    maxEventLoopStallMs: STALL_THRESHOLD_MS,
  };
  const fast = await blocksUnderPreload({ nodeBin, sampleInterval: 1000, repeats: parameters.repeatsAt1s, progress });
  const parts = [report(fast, ', 1 s interval', true)];
  const raw = { interval1000: fast.samples };
  if (parameters.repeatsAtDefault) {
    const slow = await blocksUnderPreload({
      nodeBin,
      sampleInterval: 5000,
      repeats: parameters.repeatsAtDefault,
      progress,
    });
    parts.push(report(slow, ', default 5 s interval', false));
    raw.interval5000 = slow.samples;
  }
  return {
    status: 'measured',
    parameters,
    notes: [
      `A service process under the preload, the default threshold maxEventLoopDelay ${fast.threshold} ms on each interval's event-loop delay p99, maxEventLoopStall ${fast.stallThreshold} ms (below every block), warningCooldown 0 so every block can warn; once with sampleInterval 1000 ms (repeats), ${parameters.repeatsAtDefault ? 'once with the default 5000 ms' : 'the default 5000 ms interval is left out in quick mode'}.`,
      "Each block starts a third into an interval (a busy loop timed by the process's own clock, wall time: a preempted loop blocks too). Recorded: that interval's reading, whether that same reading raised the eventLoop.delay.p99 warning, the block's stall event and its eventLoop.stall warning.",
      "The p99 threshold is for sustained delay: a single block is one sample among many and counts only once three turns of the interval were that slow. A single block is the stall threshold's to report: counted, warned within a second of its end, with its length.",
    ],
    comparisons: parts.flatMap((p) => p.comparisons),
    tables: parts.map((p) => p.table),
    raw,
  };
}
