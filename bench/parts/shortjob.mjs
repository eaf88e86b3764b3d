// Cost of the preload for a short job: a script that makes one fetch and one
// axios (node:http) call and exits, against `node -e 0`'s start-up cost, so
// what the first use of fetch and http costs under the preload shows apart.
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { reportedCpuMs, reportedWallMs, startFixture, stop, timedRun } from '../lib/proc.mjs';
import { BENCH, FIXTURES, PRELOAD, cleanEnv, hasPreload } from '../lib/subject.mjs';

export const id = 'shortjob';
export const title = 'Cost of the preload for a short job: one fetch and one axios call';

const CPU_HOOK = join(FIXTURES, 'report-cpu.cjs');
const JOB = join(FIXTURES, 'short-job.cjs');

export async function run({ quick, nodeBin, progress }) {
  if (!hasPreload())
    return { status: 'not measured', notes: [`${PRELOAD} does not exist yet.`], comparisons: [], tables: [] };
  if (!existsSync(join(BENCH, 'node_modules', 'axios', 'package.json'))) {
    return {
      status: 'not measured',
      notes: ['axios is not installed in bench/ (npm ci --prefix bench).'],
      comparisons: [],
      tables: [],
    };
  }
  const server = await startFixture(nodeBin, [join(FIXTURES, 'hello-server.cjs')], { env: cleanEnv() });
  try {
    const url = `http://127.0.0.1:${server.info.port}/`;
    // Telemetry off the table: a job this short ends before the exporter would start (telemetry.exportDelay).
    const env = (extra = {}) => cleanEnv({ BENCH_URL: url, OTEL_METRICS_EXPORTER: 'none', ...extra });
    const variants = [
      { id: 'bare', label: 'bare node', args: [], env: env() },
      { id: 'titan', label: 'titan-perf preload', args: ['--require', PRELOAD], env: env() },
    ];
    // An earlier build of the preload, to measure a change before/after in the same interleaved rounds.
    const before = process.env.BENCH_PRELOAD_BEFORE;
    if (before && existsSync(before))
      variants.push({
        id: 'titan-before',
        label: `titan-perf preload, earlier build (BENCH_PRELOAD_BEFORE=${before})`,
        args: ['--require', before],
        env: env(),
      });
    const parameters = { rounds: quick ? 3 : 40, job: 'bench/fixtures/short-job.cjs', warmupRuns: 1 };
    for (const v of variants) {
      timedRun(nodeBin, [...v.args, JOB], { env: v.env });
      timedRun(nodeBin, [...v.args, '-e', '0'], { env: v.env });
    }
    const loads = [os.loadavg()[0]];
    const samples = await interleave({
      label: id,
      variants,
      rounds: parameters.rounds,
      progress,
      measure: async (v) => {
        const cpu = (r) => reportedCpuMs(r.stderr);
        const job = timedRun(nodeBin, ['--require', CPU_HOOK, ...v.args, JOB], { env: v.env });
        const empty = timedRun(nodeBin, ['--require', CPU_HOOK, ...v.args, '-e', '0'], { env: v.env });
        return {
          jobMs: job.ms,
          jobInProcessMs: reportedWallMs(job.stderr),
          jobCpuMs: cpu(job),
          emptyMs: empty.ms,
          emptyInProcessMs: reportedWallMs(empty.stderr),
          emptyCpuMs: cpu(empty),
          jobRssMiB: job.rssMiB,
        };
      },
    });
    loads.push(os.loadavg()[0]);
    const common = { baseline: 'bare', lowerIsBetter: true, variants };
    const comparisons = [
      makeComparison({
        id: 'job-inproc-ms',
        title: 'Short job (one fetch, one axios call): wall time from the first --require to exit',
        unit: 'ms',
        samples: samples.jobInProcessMs,
        targets: [
          {
            variant: 'titan',
            kind: 'paired-delta-max',
            limit: 10,
            text: 'the preload adds <= 10 ms to a short job (paired difference)',
          },
        ],
        note: "Measured inside the process, from the load of the first --require (a one-line timer, before the preload) to the exit event: Node's own bootstrap before it (~100 ms, +-8 ms between processes on this machine) is the same with and without the preload and only adds noise.",
        ...common,
      }),
      makeComparison({
        id: 'job-ms',
        title: 'Short job: wall time, spawn to exit',
        unit: 'ms',
        samples: samples.jobMs,
        note: 'Measured by the harness; each round runs every variant once (order alternating), the job and `node -e 0` back to back. The process bootstrap noise is in it: read the paired difference.',
        ...common,
      }),
      makeComparison({
        id: 'job-cpu',
        title: 'Short job: CPU time (user + system)',
        unit: 'ms',
        samples: samples.jobCpuMs,
        ...common,
      }),
      makeComparison({
        id: 'empty-inproc-ms',
        title: 'node -e 0 in the same rounds: wall time from the first --require to exit',
        unit: 'ms',
        samples: samples.emptyInProcessMs,
        ...common,
      }),
      makeComparison({
        id: 'empty-ms',
        title: 'node -e 0 in the same rounds: wall time',
        unit: 'ms',
        samples: samples.emptyMs,
        ...common,
      }),
      makeComparison({
        id: 'empty-cpu',
        title: 'node -e 0 in the same rounds: CPU time',
        unit: 'ms',
        samples: samples.emptyCpuMs,
        ...common,
      }),
      makeComparison({
        id: 'job-rss',
        title: 'Short job: peak RSS',
        unit: 'MiB',
        samples: samples.jobRssMiB,
        ...common,
      }),
    ];
    return {
      status: 'measured',
      parameters: { ...parameters, loadAverage1m: loads },
      notes: [
        `Load average (1 min) at the start and end of the rounds: ${loads.map((x) => x.toFixed(2)).join(', ')}. The paired difference (median of the per-round differences) is the figure to quote on a busy machine.`,
        "The job's cost beyond start-up is what the first fetch and the first http request cost under the preload (the tuned fetch Agent, the after-start step: probes, http agent tuning).",
      ],
      comparisons,
      tables: [],
    };
  } finally {
    await stop(server.child);
  }
}
