// GC advice: does young-generation sizing (--max-semi-space-size) change an
// allocation-heavy workload? The agent's recommendations should rest on this.
import { join } from 'node:path';
import { interleave } from '../lib/interleave.mjs';
import { makeComparison } from '../lib/comparison.mjs';
import { timedRun } from '../lib/proc.mjs';
import { cleanEnv, FIXTURES } from '../lib/subject.mjs';
import { median, round } from '../lib/stats.mjs';

export const id = 'gc';
export const title = 'GC advice: young-generation size on an allocation-heavy workload';

const VARIANTS = [
  { id: 'default', label: 'default semi-space', flags: [] },
  { id: 'semi-4', label: '--max-semi-space-size=4', flags: ['--max-semi-space-size=4'] },
  { id: 'semi-16', label: '--max-semi-space-size=16', flags: ['--max-semi-space-size=16'] },
  { id: 'semi-64', label: '--max-semi-space-size=64', flags: ['--max-semi-space-size=64'] },
];

export async function run({ quick, nodeBin, progress }) {
  const parameters = { rounds: quick ? 2 : 6, iterations: quick ? 400_000 : 1_000_000, cache: 100_000 };
  const env = cleanEnv({ BENCH_ITERATIONS: String(parameters.iterations), BENCH_CACHE: String(parameters.cache) });
  const newSpace = {};
  const samples = await interleave({
    label: id,
    variants: VARIANTS,
    rounds: parameters.rounds,
    progress,
    measure: async (v) => {
      const { stdout } = timedRun(nodeBin, [...v.flags, join(FIXTURES, 'alloc-workload.cjs')], { env });
      const r = JSON.parse(stdout.trim().split('\n').pop());
      (newSpace[v.id] ??= []).push(r.newSpaceMiB);
      return {
        workMs: r.ms,
        gcMs: r.gcMs,
        minorShare: r.gcMs > 0 ? (r.minorMs / r.gcMs) * 100 : 0,
        scavenges: r.scavenges,
        majors: r.majors,
      };
    },
  });
  const common = { baseline: 'default', lowerIsBetter: true, variants: VARIANTS };
  return {
    status: 'measured',
    parameters,
    notes: [
      'The workload allocates short-lived objects per iteration and keeps the latest 100k alive in a ring (a cache of recent orders); time and GC pauses are measured inside the process (PerformanceObserver "gc").',
      `New-space size seen at the end (MiB, median): ${VARIANTS.map((v) => `${v.id} ${round(median(newSpace[v.id]))}`).join(', ')}. The default depends on the machine's memory and the Node version.`,
    ],
    comparisons: [
      makeComparison({
        id: 'work-ms',
        title: 'Time for the fixed workload',
        unit: 'ms',
        samples: samples.workMs,
        ...common,
      }),
      makeComparison({
        id: 'gc-ms',
        title: 'Total GC pause during the workload',
        unit: 'ms',
        samples: samples.gcMs,
        ...common,
      }),
      makeComparison({
        id: 'scavenges',
        title: 'Scavenges (minor GCs)',
        unit: 'count',
        samples: samples.scavenges,
        ...common,
      }),
      makeComparison({ id: 'majors', title: 'Major GCs', unit: 'count', samples: samples.majors, ...common }),
      makeComparison({
        id: 'minor-share',
        title: 'Share of GC pause spent in scavenges',
        unit: '%',
        samples: samples.minorShare,
        note: "Above 50% is the case in which titan-perf's score recommends NODE_OPTIONS=--max-semi-space-size=64 (src/score/findings.ts): compare it with the time and pause of the semi-64 variant above.",
        ...common,
      }),
    ],
    tables: [],
  };
}
