// Cost of the preload under load: a node:http hello world's requests per
// second with and without it (and with the anchors), load from a separate process.
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { loadGenerator, loadRps } from '../lib/load.mjs';
import { startOtlpReceiver } from '../lib/otlp.mjs';
import { startFixture, stop } from '../lib/proc.mjs';
import { procUsage } from '../lib/procfs.mjs';
import { median } from '../lib/stats.mjs';
import { FIXTURES } from '../lib/subject.mjs';
import { costVariants } from '../lib/variants.mjs';

export const id = 'throughput';
export const title = 'Cost of the preload under load: node:http hello-world throughput';

export async function run({ quick, nodeBin, progress }) {
  const generator = loadGenerator();
  if (!generator)
    return {
      status: 'not measured',
      notes: ['No load generator: install wrk (apt) or bench/ packages (autocannon).'],
      comparisons: [],
      tables: [],
    };
  const receiver = await startOtlpReceiver(nodeBin);
  try {
    const { variants, skipped } = costVariants({ otlpEndpoint: receiver.endpoint, titanExportDelayMs: 500 });
    const parameters = { rounds: quick ? 1 : 4, seconds: quick ? 1 : 3, warmupSeconds: 1, connections: 32, generator };
    const exportsSeen = {};
    const samples = await interleave({
      label: id,
      variants,
      rounds: parameters.rounds,
      progress,
      measure: async (v) => {
        const exportsBefore = await receiver.exports();
        const { child, info } = await startFixture(nodeBin, [...v.args, join(FIXTURES, 'hello-server.cjs')], {
          env: v.env,
        });
        try {
          const url = `http://127.0.0.1:${info.port}/`;
          await loadRps({ url, seconds: parameters.warmupSeconds, connections: parameters.connections, nodeBin });
          const before = procUsage(child.pid);
          const r = await loadRps({ url, seconds: parameters.seconds, connections: parameters.connections, nodeBin });
          const after = procUsage(child.pid);
          if (r.errors) progress(`[${id}] ${v.id}: ${r.errors}`);
          const rssMiB = after.peakRssMiB;
          const cpuMsPer1k = ((after.cpuMs - before.cpuMs) / r.requests) * 1000;
          (exportsSeen[v.id] ??= []).push((await receiver.exports()) - exportsBefore);
          return { rps: r.rps, cpuMsPer1k, rssMiB };
        } finally {
          await stop(child);
        }
      },
    });
    const hasTitan = variants.some((v) => v.id === 'titan');
    const common = { baseline: 'bare', variants };
    return {
      status: hasTitan ? 'measured' : 'partial',
      parameters,
      notes: [
        ...skipped,
        `Load from ${generator} (${parameters.connections} connections, one thread) in its own process, ${parameters.warmupSeconds} s warm-up then ${parameters.seconds} s measured per run; a fresh server process per run. The load generator and the server share the machine's 2 cores.`,
      ],
      comparisons: [
        makeComparison({
          id: 'rps',
          title: 'Hello-world server throughput',
          unit: 'req/s',
          lowerIsBetter: false,
          samples: samples.rps,
          targets: hasTitan
            ? [
                {
                  variant: 'titan',
                  kind: 'ratio-min',
                  limit: 0.99,
                  text: 'throughput with the preload >= 99% of bare (metrics only)',
                },
              ]
            : [],
          ...common,
        }),
        makeComparison({
          id: 'cpu',
          title: 'Server CPU time per 1000 requests',
          unit: 'ms',
          lowerIsBetter: true,
          samples: samples.cpuMsPer1k,
          targets: hasTitan
            ? [
                {
                  variant: 'titan',
                  kind: 'ratio-max',
                  limit: 1.0101,
                  text: 'server CPU per request with the preload <= 1/0.99 of bare (the throughput target as CPU cost)',
                },
              ]
            : [],
          note: 'User + system CPU of the server process over the measured window (/proc/PID/stat) divided by the requests served: the cost per request, which a busy shared machine disturbs less than requests per second.',
          ...common,
        }),
        makeComparison({
          id: 'rss',
          title: 'Server peak RSS after the load',
          unit: 'MiB',
          lowerIsBetter: true,
          samples: samples.rssMiB,
          ...common,
        }),
      ],
      tables: [
        {
          title: 'OTLP exports received from each server during its run',
          note: "OTEL_METRIC_EXPORT_INTERVAL=1000 for the exporting variants and titan-perf's telemetry.exportDelay 500 ms (default 3000, which keeps the SDK off the start-up path), so the exporter runs during the measured window; 0 for an exporting variant means its export pipeline was not active.",
          columns: ['variant', 'exports per run (median)', 'per run'],
          rows: variants.map((v) => [v.label, median(exportsSeen[v.id] ?? []), (exportsSeen[v.id] ?? []).join(' ')]),
        },
      ],
    };
  } finally {
    await stop(receiver.child);
  }
}
