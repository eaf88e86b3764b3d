// What telemetry costs a busy service, as two costs apart:
// - the one-off load of the export pipeline (titan-perf loads its SDK
//   telemetry.exportDelay after start, the anchors at start): the main-thread
//   pause it causes, when, and the CPU it takes, measured on an idle server;
// - the steady state once everything is loaded: server CPU per request and
//   memory under load, with export every 1 s or every 60 s (OTLP) and a
//   Prometheus endpoint scraped every second.
// Next to OpenTelemetry's NodeSDK with its runtime instrumentation exporting
// the same way. The memory of each variant is broken down by kind (V8 heap
// spaces, external, the rest of the RSS) to show where an agent's share goes.
import os from 'node:os';
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { loadGenerator, loadRps } from '../lib/load.mjs';
import { startOtlpReceiver } from '../lib/otlp.mjs';
import { ask, freePort, sleep, startFixture, stop } from '../lib/proc.mjs';
import { procUsage } from '../lib/procfs.mjs';
import { median, round } from '../lib/stats.mjs';
import { ANCHORS, FIXTURES, PRELOAD, anchorInstalled, cleanEnv, hasPreload } from '../lib/subject.mjs';

export const id = 'steady';
export const title = 'Cost of telemetry: the one-off SDK load apart from the steady state (CPU per request, memory)';

const HOOK = join(FIXTURES, 'probe-hook.cjs');
const MiB = 2 ** 20;

function variantsFor({ otlpEndpoint, quick }) {
  const otlp = (intervalMs) => ({
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    OTEL_METRIC_EXPORT_INTERVAL: String(intervalMs),
  });
  const prom = {
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
  };
  const titan = ['--require', PRELOAD];
  const v = [{ id: 'bare', label: 'bare node', args: [], env: cleanEnv() }];
  const skipped = [];
  if (hasPreload()) {
    v.push(
      { id: 'titan', label: 'titan-perf, no export', args: titan, env: cleanEnv({ OTEL_METRICS_EXPORTER: 'none' }) },
      { id: 'titan-otlp1', label: 'titan-perf, OTLP every 1 s', args: titan, env: cleanEnv(otlp(1000)) },
      ...(quick
        ? []
        : [{ id: 'titan-otlp60', label: 'titan-perf, OTLP every 60 s', args: titan, env: cleanEnv(otlp(60000)) }]),
      ...(quick
        ? []
        : [
            {
              id: 'titan-prom',
              label: 'titan-perf, Prometheus scraped every 1 s',
              args: titan,
              env: cleanEnv(prom),
              prometheus: true,
            },
          ]),
    );
  } else skipped.push(`titan-perf: not measured, ${PRELOAD} does not exist yet`);
  if (anchorInstalled('otel-nodesdk')) {
    const nodesdk = ['--require', join(FIXTURES, ANCHORS['otel-nodesdk'].file)];
    v.push(
      {
        id: 'otel-otlp1',
        label: 'OTel NodeSDK + runtime-node, OTLP every 1 s',
        args: nodesdk,
        env: cleanEnv(otlp(1000)),
      },
      ...(quick
        ? []
        : [
            {
              id: 'otel-otlp60',
              label: 'OTel NodeSDK + runtime-node, OTLP every 60 s',
              args: nodesdk,
              env: cleanEnv(otlp(60000)),
            },
          ]),
      ...(quick
        ? []
        : [
            {
              id: 'otel-prom',
              label: 'OTel NodeSDK + runtime-node, Prometheus scraped every 1 s',
              args: nodesdk,
              env: cleanEnv(prom),
              prometheus: true,
            },
          ]),
    );
  } else skipped.push('OTel NodeSDK: not measured, not installed in bench/ (npm ci --prefix bench)');
  return { variants: v, skipped };
}

/** Scrapes a Prometheus endpoint every second until stopped, as a Prometheus server with a 1 s interval would. */
function scraper(port) {
  let on = true;
  let scrapes = 0;
  const done = (async () => {
    while (on) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        await res.text();
        if (res.ok) scrapes++;
      } catch {
        // Not up yet (titan-perf starts its endpoint after exportDelay).
      }
      await sleep(1000);
    }
  })();
  return { stop: async () => ((on = false), await done, scrapes) };
}

function pausesOf(stderr) {
  return [...stderr.matchAll(/__pause (\{[^\n]+\})/g)].map((m) => JSON.parse(m[1]));
}

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
    const { variants, skipped } = variantsFor({ otlpEndpoint: receiver.endpoint, quick });
    // Idle long enough for titan-perf's exportDelay (3 s by default) and the first export to pass.
    const parameters = {
      rounds: quick ? 1 : 3,
      idleSeconds: quick ? 4.5 : 6,
      warmupSeconds: quick ? 1 : 2,
      seconds: quick ? 2 : 6,
      connections: 32,
      generator,
    };
    const loads = [os.loadavg()[0]];
    const extra = {};
    const samples = await interleave({
      label: id,
      variants,
      rounds: parameters.rounds,
      progress,
      measure: async (v) => {
        const promPort = v.prometheus ? await freePort() : undefined;
        const env = promPort ? { ...v.env, OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort) } : v.env;
        const exportsBefore = await receiver.exports();
        const fixture = await startFixture(
          nodeBin,
          ['--require', HOOK, ...v.args, join(FIXTURES, 'hello-server.cjs')],
          { env, ipc: true },
        );
        const { child } = fixture;
        const scrape = promPort ? scraper(promPort) : undefined;
        try {
          const url = `http://127.0.0.1:${fixture.info.port}/`;
          // The one-off: the idle server from ready until well past the SDK load.
          const atReady = procUsage(child.pid);
          await sleep(parameters.idleSeconds * 1000);
          const afterIdle = procUsage(child.pid);
          // Pauses up to here: the load's own scheduling pauses come later and do not count.
          const idlePauses = pausesOf(fixture.stderr());
          // The steady state: warm up, then measure.
          await loadRps({ url, seconds: parameters.warmupSeconds, connections: parameters.connections, nodeBin });
          const before = procUsage(child.pid);
          const r = await loadRps({ url, seconds: parameters.seconds, connections: parameters.connections, nodeBin });
          const after = procUsage(child.pid);
          const mem = await ask(child, 'memory');
          if (r.errors) progress(`[${id}] ${v.id}: ${r.errors}`);
          // Pause times are the hook's performance.now(): ms since the server process started.
          const longest = idlePauses.reduce((a, p) => (p.ms > (a?.ms ?? 0) ? p : a), undefined);
          const e = (extra[v.id] ??= { exports: [], scrapes: [], longestAt: [] });
          e.exports.push((await receiver.exports()) - exportsBefore);
          if (scrape) e.scrapes.push(await scrape.stop());
          e.longestAt.push(longest?.at ?? NaN);
          const u = mem.usage;
          const heapTotal = u.heapTotal / MiB;
          const rssMiB = after.rssMiB;
          return {
            cpuMsPer1k: ((after.cpuMs - before.cpuMs) / r.requests) * 1000,
            idleCpuMs: afterIdle.cpuMs - atReady.cpuMs,
            longestPauseMs: longest?.ms ?? 0,
            rssMiB,
            peakRssMiB: after.peakRssMiB,
            heapTotalMiB: heapTotal,
            heapUsedMiB: u.heapUsed / MiB,
            oldSpaceMiB: mem.spaces.old_space.size / MiB,
            newSpaceMiB: mem.spaces.new_space.size / MiB,
            codeSpaceMiB: (mem.spaces.code_space.size + (mem.spaces.code_large_object_space?.size ?? 0)) / MiB,
            externalMiB: u.external / MiB,
            outsideHeapMiB: rssMiB - heapTotal - u.external / MiB,
            rps: r.rps,
          };
        } finally {
          if (scrape) await scrape.stop();
          await stop(child);
        }
      },
    });
    loads.push(os.loadavg()[0]);
    const common = { baseline: 'bare', variants };
    const comparisons = [
      makeComparison({
        id: 'idle-cpu',
        title: `One-off: server CPU while idle for the first ${parameters.idleSeconds} s after ready (includes loading the export pipeline)`,
        unit: 'ms',
        lowerIsBetter: true,
        samples: samples.idleCpuMs,
        note: 'CPU time of the server process (/proc/PID/stat, 10 ms ticks) from the moment it listened until the idle window ended: titan-perf loads its SDK telemetry.exportDelay (3 s) after start, inside this window; the anchors loaded theirs before the server listened (that part is in the start-up comparison).',
        ...common,
      }),
      makeComparison({
        id: 'pause',
        title: 'One-off: longest main-thread pause from start until the end of the idle window',
        unit: 'ms',
        lowerIsBetter: true,
        samples: samples.longestPauseMs,
        note: 'A 5 ms interval timer in the server (bench/fixtures/probe-hook.cjs) that fired 20 ms or more late; 0 = no pause of 20 ms. On a loaded machine the scheduler alone causes pauses: read the bare row first.',
        ...common,
      }),
      makeComparison({
        id: 'cpu',
        title: 'Steady state: server CPU time per 1000 requests',
        unit: 'ms',
        lowerIsBetter: true,
        samples: samples.cpuMsPer1k,
        note: `User + system CPU of the server over the measured window divided by the requests served; ${parameters.warmupSeconds} s of warm-up load first, after the idle window, so every pipeline is loaded.`,
        ...common,
      }),
      makeComparison({
        id: 'rss',
        title: 'Steady state: RSS at the end of the load',
        unit: 'MiB',
        lowerIsBetter: true,
        samples: samples.rssMiB,
        ...common,
      }),
      makeComparison({
        id: 'heap',
        title: 'Steady state: V8 heap (heapTotal) at the end of the load',
        unit: 'MiB',
        lowerIsBetter: true,
        samples: samples.heapTotalMiB,
        ...common,
      }),
      makeComparison({
        id: 'outside-heap',
        title: 'Steady state: RSS outside the V8 heap and external memory',
        unit: 'MiB',
        lowerIsBetter: true,
        samples: samples.outsideHeapMiB,
        note: "RSS - heapTotal - external: the binary's and libraries' touched pages, malloc arenas, thread stacks.",
        ...common,
      }),
    ];
    const med = (metric, vid) => round(median(samples[metric]?.[vid] ?? []));
    const memTable = {
      first: true,
      title: 'Where the memory goes at the end of the load (medians over rounds, MiB)',
      note: 'From the server itself (process.memoryUsage, v8.getHeapSpaceStatistics) right after the load; RSS from /proc. "outside heap" = RSS - heapTotal - external.',
      columns: [
        'variant',
        'RSS',
        'peak RSS',
        'heapTotal',
        'heapUsed',
        'old space',
        'new space',
        'code space',
        'external',
        'outside heap',
      ],
      rows: variants.map((v) => [
        v.label,
        ...[
          'rssMiB',
          'peakRssMiB',
          'heapTotalMiB',
          'heapUsedMiB',
          'oldSpaceMiB',
          'newSpaceMiB',
          'codeSpaceMiB',
          'externalMiB',
          'outsideHeapMiB',
        ].map((k) => med(k, v.id)),
      ]),
    };
    const oneOff = {
      title: 'One-off: when the longest idle pause happened, and what was exported',
      note: 'Pause time in ms since the server process started (titan-perf loads its SDK about 3000 ms after start). Exports: OTLP requests the receiver got from this server per run; scrapes: successful Prometheus scrapes per run.',
      columns: ['variant', 'longest pause at (ms, per run)', 'exports per run', 'scrapes per run'],
      rows: variants.map((v) => [
        v.label,
        (extra[v.id]?.longestAt ?? []).map((x) => (Number.isFinite(x) ? x : '–')).join(' '),
        (extra[v.id]?.exports ?? []).join(' '),
        (extra[v.id]?.scrapes ?? []).join(' ') || '–',
      ]),
    };
    return {
      status: variants.some((v) => v.id === 'titan') ? 'measured' : 'partial',
      parameters: { ...parameters, loadAverage1m: loads },
      notes: [
        ...skipped,
        `Per run: a fresh node:http hello-world server, idle ${parameters.idleSeconds} s, then ${parameters.warmupSeconds} s of warm-up load and ${parameters.seconds} s measured (${generator}, ${parameters.connections} connections, its own process). Load average (1 min) at start and end: ${loads.map((x) => x.toFixed(2)).join(', ')}.`,
      ],
      comparisons,
      tables: [memTable, oneOff],
    };
  } finally {
    await stop(receiver.child);
  }
}
