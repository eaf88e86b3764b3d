// Cost of the preload at start-up: added wall time and peak RSS of `node -e 0`,
// against bare node and the anchors, many interleaved runs.
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { startOtlpReceiver } from '../lib/otlp.mjs';
import { hasGnuTime, reportedCpuMs, stop, timedRun } from '../lib/proc.mjs';
import { FIXTURES } from '../lib/subject.mjs';
import { costVariants } from '../lib/variants.mjs';

const CPU_HOOK = join(FIXTURES, 'report-cpu.cjs');

export const id = 'startup';
export const title = 'Cost of the preload: start-up time and peak RSS of `node -e 0`';

export async function run({ quick, nodeBin, progress }) {
  const receiver = await startOtlpReceiver(nodeBin);
  try {
    const { variants, skipped } = costVariants({ otlpEndpoint: receiver.endpoint, exportAtOnce: true });
    const parameters = {
      rounds: quick ? 3 : 25,
      command: 'node --require report-cpu.cjs [--require X] -e 0',
      warmupRuns: 1,
    };
    // One unmeasured run each, so the first round does not pay for a cold page cache.
    for (const v of variants) timedRun(nodeBin, [...v.args, '-e', '0'], { env: v.env });
    const samples = await interleave({
      label: id,
      variants,
      rounds: parameters.rounds,
      progress,
      measure: async (v) => {
        const r = timedRun(nodeBin, ['--require', CPU_HOOK, ...v.args, '-e', '0'], { env: v.env });
        return { ms: r.ms, cpuMs: reportedCpuMs(r.stderr), rssMiB: r.rssMiB };
      },
    });
    const hasTitan = variants.some((v) => v.id === 'titan');
    const comparisons = [
      makeComparison({
        id: 'ms',
        title: 'Start-up wall time of node -e 0',
        unit: 'ms',
        baseline: 'bare',
        lowerIsBetter: true,
        variants,
        samples: samples.ms,
        targets: hasTitan
          ? [
              {
                variant: 'titan',
                kind: 'delta-max',
                limit: 10,
                text: 'preload adds <= 10 ms to start-up (metrics only)',
              },
              {
                variant: 'titan-otlp',
                kind: 'delta-max',
                limit: 10,
                text: 'preload adds <= 10 ms to start-up with OTLP export on',
              },
            ]
          : [],
        note: 'Wall time measured by the harness around the whole process (spawn to exit), the same spawn cost for every variant.',
      }),
    ];
    comparisons.push(
      makeComparison({
        id: 'cpu',
        title: 'CPU time of node -e 0 (user + system)',
        unit: 'ms',
        baseline: 'bare',
        lowerIsBetter: true,
        variants,
        samples: samples.cpuMs,
        note: "The process's own CPU time at exit (process.cpuUsage, from the same tiny --require hook in every variant): the work start-up costs, which waiting for a busy CPU does not inflate the way it inflates wall time.",
      }),
    );
    const notes = [...skipped];
    if (hasGnuTime()) {
      comparisons.push(
        makeComparison({
          id: 'rss',
          title: 'Peak RSS of node -e 0',
          unit: 'MiB',
          baseline: 'bare',
          lowerIsBetter: true,
          variants,
          samples: samples.rssMiB,
          targets: hasTitan
            ? [
                {
                  variant: 'titan',
                  kind: 'delta-max',
                  limit: 5,
                  text: 'preload adds <= 5 MiB peak RSS (metrics only)',
                },
                {
                  variant: 'titan-otlp',
                  kind: 'delta-max',
                  limit: 5,
                  text: 'preload adds <= 5 MiB peak RSS with OTLP export on',
                },
              ]
            : [],
          note: 'Maximum resident set size as reported by GNU time (%M).',
        }),
      );
    } else {
      notes.push('Peak RSS not measured: /usr/bin/time (Debian package "time") is not installed.');
    }
    const ms = comparisons[0].rows;
    const otlpRow = ms.find((r) => r.id === 'titan-otlp');
    const sdkRow = ms.find((r) => r.id === 'otel-nodesdk');
    if (otlpRow && sdkRow) {
      notes.push(
        `With OTLP export on, titan-perf adds ${otlpRow.delta} ms (median) where the OpenTelemetry NodeSDK adds ${sdkRow.delta} ms.`,
      );
    }
    return { status: hasTitan ? 'measured' : 'partial', parameters, notes, comparisons, tables: [] };
  } finally {
    await stop(receiver.child);
  }
}
