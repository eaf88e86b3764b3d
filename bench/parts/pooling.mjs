// Gain of the pooling: the same built-in-fetch client with and without the
// preload against a real HTTPS origin, with the origin's connection and TLS
// handshake counts that explain the latencies.
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { ask, runCollect, startFixture, stop } from '../lib/proc.mjs';
import { percentiles, round, median } from '../lib/stats.mjs';
import { FIXTURES, PRELOAD, cleanEnv, hasPreload } from '../lib/subject.mjs';
import { makeCertificate } from '../lib/tls.mjs';

export const id = 'pooling';
export const title = 'Gain of the pooling: built-in fetch against an HTTPS origin';

async function runOnce({ nodeBin, variant, scenario, tls, originEnv = {} }) {
  const { child, info } = await startFixture(nodeBin, [join(FIXTURES, 'https-origin.cjs')], {
    env: cleanEnv({ BENCH_KEY: tls.key, BENCH_CERT: tls.cert, ...originEnv }),
    ipc: true,
  });
  try {
    const url = `https://${variant.host ?? '127.0.0.1'}:${info.port}/quote`;
    const env = { ...variant.env, NODE_EXTRA_CA_CERTS: tls.cert, BENCH_SCENARIO: JSON.stringify({ ...scenario, url }) };
    const { stdout } = await runCollect(nodeBin, [...variant.args, join(FIXTURES, 'fetch-client.mjs')], {
      env,
      timeoutMs: 300_000,
    });
    const client = JSON.parse(stdout.trim().split('\n').pop());
    const server = await ask(child, 'stats');
    const busyMs = client.burstMs.reduce((a, b) => a + b, 0);
    return { client, server, rps: (client.latencies.length / busyMs) * 1000, ...percentiles(client.latencies) };
  } finally {
    await stop(child);
  }
}

function scenarioResult({ key, label, variants, samples, dispatchers, baseline = 'bare', note }) {
  const common = { baseline, variants };
  const comparisons = [
    makeComparison({
      id: `${key}-rps`,
      title: `${label}: throughput`,
      unit: 'req/s',
      lowerIsBetter: false,
      samples: samples.rps,
      note,
      ...common,
    }),
    makeComparison({
      id: `${key}-p50`,
      title: `${label}: p50 latency`,
      unit: 'ms',
      lowerIsBetter: true,
      samples: samples.p50,
      ...common,
    }),
    makeComparison({
      id: `${key}-p99`,
      title: `${label}: p99 latency`,
      unit: 'ms',
      lowerIsBetter: true,
      samples: samples.p99,
      ...common,
    }),
    makeComparison({
      id: `${key}-handshakes`,
      title: `${label}: TLS handshakes at the origin per run`,
      unit: 'count',
      lowerIsBetter: true,
      samples: samples.handshakes,
      ...common,
    }),
  ];
  const table = {
    title: `${label}: latency percentiles and connections (medians over rounds)`,
    columns: [
      'variant',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'req/s',
      'TCP connections',
      'TLS handshakes',
      'failed requests',
      'fetch dispatcher',
    ],
    rows: variants.map((v) => [
      v.label,
      ...['p50', 'p99', 'p999', 'rps', 'connections', 'handshakes', 'failures'].map((m) =>
        round(median(samples[m]?.[v.id] ?? [])),
      ),
      [...new Set(dispatchers[v.id] ?? [])].join(', '),
    ]),
  };
  return { comparisons, table };
}

async function interleavedScenario({
  key,
  label,
  variants,
  scenario,
  rounds,
  tls,
  nodeBin,
  progress,
  originEnv,
  baseline,
  note,
}) {
  const dispatchers = {};
  const samples = await interleave({
    label: `${id}/${key}`,
    variants,
    rounds,
    progress,
    measure: async (v) => {
      const r = await runOnce({ nodeBin, variant: v, scenario, tls, originEnv });
      (dispatchers[v.id] ??= []).push(r.client.dispatcher);
      return {
        rps: r.rps,
        p50: r.p50,
        p99: r.p99,
        p999: r.p999,
        connections: r.server.connections,
        handshakes: r.server.handshakes,
        failures: r.client.failures,
      };
    },
  });
  return scenarioResult({ key, label, variants, samples, dispatchers, baseline, note });
}

/** Periodic calls are idle most of the time, so the variants run side by side rather than one after another. */
async function periodicScenario({ variants, scenario, tls, nodeBin, progress }) {
  progress(`[${id}/periodic] ${scenario.bursts} calls ${scenario.gapMs} ms apart, all variants side by side`);
  const runs = await Promise.all(
    variants.map((v) => runOnce({ nodeBin, variant: v, scenario, tls, originEnv: { BENCH_KEEPALIVE_MS: '0' } })),
  );
  const samples = { latency: {}, handshakes: {} };
  variants.forEach((v, i) => {
    samples.latency[v.id] = runs[i].client.latencies.slice(1);
    samples.handshakes[v.id] = [runs[i].server.handshakes];
  });
  const comparisons = [
    makeComparison({
      id: 'periodic-latency',
      title: `Periodic calls ${scenario.gapMs / 1000} s apart: latency of calls 2..${scenario.bursts}`,
      unit: 'ms',
      baseline: 'bare',
      lowerIsBetter: true,
      variants,
      samples: samples.latency,
      note: "The first call always connects and is left out; each sample is one later call. The origin sends no Keep-Alive hint (keepAliveTimeout 0), so the client's own idle timeout decides whether a call reuses its connection.",
    }),
  ];
  const table = {
    title: 'Periodic calls: TLS handshakes at the origin',
    columns: ['variant', 'calls', 'TCP connections', 'TLS handshakes', 'fetch dispatcher'],
    rows: variants.map((v, i) => [
      v.label,
      runs[i].client.latencies.length,
      runs[i].server.connections,
      runs[i].server.handshakes,
      runs[i].client.dispatcher,
    ]),
  };
  return { comparisons, table };
}

/**
 * Connection pooling is often said to give 20-40% lower latency and 30-50%
 * more throughput. Each
 * scenario's preloaded variant against its default-Node counterpart, in words.
 */
function claimsTable(comparisons, pairs) {
  const rowOf = (cid, vid) => comparisons.find((c) => c.id === cid)?.rows.find((r) => r.id === vid);
  const pct = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${round(x * 100)}%` : '–');
  const rows = pairs.map(({ key, label, bare, titan, latencyId }) => {
    const change = (metric) => {
      // Periodic calls have one latency sample per call instead of per-run percentiles.
      const cid = latencyId ? (metric === 'p50' ? latencyId : null) : `${key}-${metric}`;
      const a = rowOf(cid, bare);
      const b = rowOf(cid, titan);
      return a && b ? b.median / a.median - 1 : NaN;
    };
    const p50 = change('p50');
    const p99 = change('p99');
    const rps = change('rps');
    let verdict;
    if (!Number.isFinite(p50)) verdict = 'not measured';
    else if (-p50 >= 0.2 || rps >= 0.3) verdict = 'gain at or above the claim';
    else if (Math.abs(p50) < 0.05 && (!Number.isFinite(rps) || Math.abs(rps) < 0.05)) verdict = 'no gain (within 5%)';
    else if (p50 > 0 && (!Number.isFinite(rps) || rps <= 0)) verdict = 'worse than default';
    else verdict = 'smaller than the claim';
    return [label, pct(p50), pct(p99), Number.isFinite(rps) ? pct(rps) : '–', verdict];
  });
  return {
    first: true,
    title: 'The usual pooling claims (20-40% lower latency, 30-50% more throughput) against these scenarios',
    note: 'Change of the preloaded variant against default Node, from the medians above (negative latency change = faster). A verdict from one noisy machine, not a guarantee: check the min..max ranges.',
    columns: ['scenario', 'p50 latency', 'p99 latency', 'throughput', 'verdict'],
    rows,
  };
}

export async function run({ quick, nodeBin, progress, tmp }) {
  if (!hasPreload())
    return {
      status: 'not measured',
      notes: [`${PRELOAD} does not exist yet (the preload has not landed).`],
      comparisons: [],
      tables: [],
    };
  const tls = makeCertificate(tmp);
  const bare = { id: 'bare', label: 'default Node', args: [], env: cleanEnv() };
  const titan = {
    id: 'titan',
    label: 'titan-perf preload',
    args: ['--require', PRELOAD],
    env: cleanEnv({ OTEL_METRICS_EXPORTER: 'none' }),
  };
  const titanHft = {
    id: 'titan-hft',
    label: 'titan-perf preload, hft profile',
    args: ['--require', PRELOAD],
    env: cleanEnv({ OTEL_METRICS_EXPORTER: 'none', TITAN_PERF_PROFILE: 'hft' }),
  };
  const rounds = quick ? 1 : 3;
  const parameters = { rounds };
  const comparisons = [];
  const tables = [];
  const notes = [
    'Client: one Node process per run using only the built-in fetch (reading every body); origin: a node:https server in its own process, fresh per run, counting "connection" and "secureConnection" events.',
  ];

  const burst = { bursts: quick ? 2 : 4, concurrency: 200, perWorker: 2, gapMs: 1000 };
  parameters.burst = burst;
  let r = await interleavedScenario({
    key: 'burst',
    label: `Bursts of ${burst.concurrency} concurrent requests`,
    variants: [bare, titan],
    scenario: burst,
    rounds,
    tls,
    nodeBin,
    progress,
  });
  comparisons.push(...r.comparisons);
  tables.push(r.table);

  const small = { bursts: 1, concurrency: 8, perWorker: quick ? 100 : 150, gapMs: 0 };
  parameters.small = small;
  r = await interleavedScenario({
    key: 'small',
    label: `Many small requests (${small.concurrency} x ${small.perWorker}) to one origin`,
    variants: [bare, titan],
    scenario: small,
    rounds,
    tls,
    nodeBin,
    progress,
  });
  comparisons.push(...r.comparisons);
  tables.push(r.table);

  const dns = { bursts: quick ? 1 : 3, concurrency: 50, perWorker: 4, gapMs: 200 };
  parameters.hostname = dns;
  const byHost = [
    { ...bare, id: 'bare-ip', label: 'default Node, 127.0.0.1' },
    { ...bare, id: 'bare-host', label: 'default Node, localhost', host: 'localhost' },
    { ...titan, id: 'titan-ip', label: 'titan-perf, 127.0.0.1' },
    { ...titan, id: 'titan-host', label: 'titan-perf, localhost', host: 'localhost' },
  ];
  r = await interleavedScenario({
    key: 'hostname',
    label: 'Hostname (localhost, DNS) vs IP origin',
    variants: byHost,
    scenario: dns,
    rounds,
    tls,
    nodeBin,
    progress,
    baseline: 'bare-ip',
  });
  comparisons.push(...r.comparisons);
  tables.push(r.table);

  if (quick) {
    notes.push(
      'Periodic calls spaced wider than the keep-alive: skipped in quick mode (they take half a minute by nature).',
    );
  } else {
    const periodic = { bursts: 5, concurrency: 1, perWorker: 1, gapMs: 5000 };
    parameters.periodic = periodic;
    r = await periodicScenario({ variants: [bare, titan, titanHft], scenario: periodic, tls, nodeBin, progress });
    comparisons.push(...r.comparisons);
    tables.push(r.table);
  }
  const pairs = [
    { key: 'burst', label: 'bursts of 200', bare: 'bare', titan: 'titan' },
    { key: 'small', label: 'many small requests', bare: 'bare', titan: 'titan' },
    { key: 'hostname', label: 'hostname origin (localhost)', bare: 'bare-host', titan: 'titan-host' },
    { key: 'hostname', label: 'IP origin (127.0.0.1)', bare: 'bare-ip', titan: 'titan-ip' },
  ];
  if (!quick) {
    pairs.push(
      {
        key: 'periodic',
        label: 'periodic calls 5 s apart, default config',
        bare: 'bare',
        titan: 'titan',
        latencyId: 'periodic-latency',
      },
      {
        key: 'periodic',
        label: 'periodic calls 5 s apart, hft profile',
        bare: 'bare',
        titan: 'titan-hft',
        latencyId: 'periodic-latency',
      },
    );
  }
  tables.unshift(claimsTable(comparisons, pairs));
  notes.push(
    "On loopback a TLS handshake costs CPU on both ends of the same 2 cores, so fewer handshakes show up as more throughput; the preload's cap of connections per origin (50 by default) queues what is beyond it, which against a remote origin with real network latency can cost more than the handshakes it saves.",
  );
  return { status: 'measured', parameters, notes, comparisons, tables };
}
