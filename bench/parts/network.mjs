// Gain of the pooling over a network path: clients reach their upstream
// through a proxy of the bench's own that delays every byte by half a round
// trip each way, so a new TCP connection costs one round trip and a TLS
// handshake one more, as against an upstream in the same region or zone.
// Default Node (each supported major), titan-perf's preload (default and hft
// profiles) and an engineer's hand-tuned agents, HTTP and HTTPS, at several
// round trips and load shapes; the usual pooling claim checked per scenario.
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { columnsAcrossRuns } from '../lib/across-runs.mjs';
import { makeComparison } from '../lib/comparison.mjs';
import { ask, runCollect, sleep, startFixture, stop } from '../lib/proc.mjs';
import { median, percentiles, ratio, round } from '../lib/stats.mjs';
import { FIXTURES, PRELOAD, ROOT, cleanEnv, hasPreload } from '../lib/subject.mjs';
import { makeCertificate } from '../lib/tls.mjs';

export const id = 'network';
export const title = 'Gain of the pooling over a network path: a delaying proxy between client and upstream';

const CLIENT = join(FIXTURES, 'net-client.mjs');
// The limits titan-perf's default profile sets, written into the hand-tuned agents.
const LIMITS = { connections: 50, keepAliveTimeout: 4000, maxFreeSockets: 256 };
const MAJORS = ['22', '24', '26'];
const CLAIM_TITLE = 'The usual pooling claim (20-40% lower latency, 30-50% more throughput) per scenario';

/** The load shapes; `origins` spreads the workers over that many origins (proxy ports). */
function scenarios(quick) {
  const all = {
    steady: {
      label: 'steady: 16 concurrent callers x 20 calls',
      bursts: 1,
      concurrency: 16,
      perWorker: quick ? 5 : 20,
      gapMs: 0,
      origins: 1,
    },
    burst: {
      label: 'bursts: 3 bursts of 100 concurrent calls, 300 ms apart',
      bursts: quick ? 2 : 3,
      concurrency: quick ? 50 : 100,
      perWorker: 1,
      gapMs: 300,
      origins: 1,
    },
    origins: {
      label: 'many origins: 20 origins x 2 callers x 5 calls',
      bursts: 1,
      concurrency: 40,
      perWorker: 5,
      gapMs: 0,
      origins: 20,
    },
    idle: {
      label: 'idle gaps: 4 calls 6 s apart (past the 4-5 s default keep-alive)',
      bursts: 4,
      concurrency: 1,
      perWorker: 1,
      gapMs: 6000,
      origins: 1,
    },
  };
  if (quick) {
    delete all.origins;
    delete all.idle;
  }
  return all;
}

async function runtimes(nodeBin, progress) {
  const { ensureRuntime } = await import(pathToFileURL(join(ROOT, 'scripts', 'runtimes.mjs')).href);
  const own = (await runCollect(nodeBin, ['-p', 'process.versions.node.split(".")[0]'])).stdout.trim();
  const bins = { [own]: nodeBin };
  const notes = [];
  for (const m of MAJORS) {
    if (bins[m]) continue;
    try {
      bins[m] = ensureRuntime(m);
    } catch (err) {
      notes.push(`Node ${m}: not measured (${err.message})`);
      progress(`[${id}] Node ${m} unavailable: ${err.message}`);
    }
  }
  return { own, bins, notes };
}

function variantsFor({ own, bins, quick }) {
  const env = (extra = {}) => cleanEnv({ OTEL_METRICS_EXPORTER: 'none', ...extra });
  const preload = ['--require', PRELOAD];
  const v = [
    {
      id: 'node',
      label: `Node ${own} fetch, default dispatcher`,
      client: 'fetch',
      agent: 'default',
      bin: bins[own],
      args: [],
      env: env(),
    },
  ];
  if (!quick) {
    // The other majors' own dispatchers are references: measured in the single-origin shapes only, to keep the run short.
    for (const m of MAJORS) {
      if (m !== own && bins[m])
        v.push({
          id: `node${m}`,
          label: `Node ${m} fetch, default dispatcher`,
          client: 'fetch',
          agent: 'default',
          bin: bins[m],
          args: [],
          env: env(),
          only: ['steady', 'burst'],
        });
    }
  }
  v.push(
    {
      id: 'titan',
      label: 'titan-perf preload, default profile (fetch)',
      client: 'fetch',
      agent: 'default',
      bin: bins[own],
      args: preload,
      env: env(),
    },
    ...(quick
      ? []
      : [
          {
            id: 'titan-hft',
            label: 'titan-perf preload, hft profile (fetch)',
            client: 'fetch',
            agent: 'default',
            bin: bins[own],
            args: preload,
            env: env({ TITAN_PERF_PROFILE: 'hft' }),
            only: ['steady', 'burst', 'idle'],
          },
        ]),
    {
      id: 'undici',
      label: 'hand-tuned undici Agent, same limits (fetch)',
      client: 'fetch',
      agent: 'undici',
      bin: bins[own],
      args: [],
      env: env(),
    },
    {
      id: 'http-node',
      label: `Node ${own} http.request, default globalAgent`,
      client: 'http',
      agent: 'default',
      bin: bins[own],
      args: [],
      env: env(),
    },
    {
      id: 'http-titan',
      label: 'titan-perf preload, default profile (http.request)',
      client: 'http',
      agent: 'default',
      bin: bins[own],
      args: preload,
      env: env(),
    },
    {
      id: 'http-akeep',
      label: 'hand-tuned agentkeepalive, same limits (http.request)',
      client: 'http',
      agent: 'agentkeepalive',
      bin: bins[own],
      args: [],
      env: env(),
    },
  );
  return v;
}

/** What the claim is checked on: each preloaded variant against default Node with the same client and runtime. */
const PAIRS = [
  { variant: 'titan', baseline: 'node', hand: 'undici' },
  { variant: 'titan-hft', baseline: 'node', hand: 'undici' },
  { variant: 'http-titan', baseline: 'http-node', hand: 'http-akeep' },
];

async function runClient({ variant, cell, scenario, proxy, tls, startDelayMs = 0 }) {
  const urls = proxy.info.ports[cell.group].slice(0, scenario.origins).map((p) => `${cell.proto}://127.0.0.1:${p}/`);
  const spec = { client: variant.client, agent: variant.agent, limits: LIMITS, urls, ...scenario, label: undefined };
  const env = { ...variant.env, NODE_EXTRA_CA_CERTS: tls.cert, BENCH_SCENARIO: JSON.stringify(spec) };
  if (startDelayMs) await sleep(startDelayMs);
  // Generous: 40 clients starting at once on a loaded 2-core machine take minutes.
  const { stdout } = await runCollect(variant.bin, [...variant.args, CLIENT], { env, timeoutMs: 600_000 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

function metricsOf(client, connections) {
  const busyMs = client.burstMs.reduce((a, b) => a + b, 0);
  const { p50, p99 } = percentiles(client.latencies);
  return {
    p50,
    p99,
    rps: (client.latencies.length / busyMs) * 1000,
    handshakes: connections,
    failures: client.failures,
    clientCpuMs: client.cpuMs,
  };
}

/** Verdict of one claim from the per-round ratios: met in every round, in the median only, or not. */
function claimVerdict(ratios, meets) {
  const finite = ratios.filter(Number.isFinite);
  if (!finite.length) return 'not measured';
  const m = median(finite);
  if (finite.every(meets)) return 'holds (every round)';
  if (meets(m)) return 'holds in the median, not every round';
  return 'does not hold';
}

const spread = (xs) => {
  const f = xs.filter(Number.isFinite);
  if (!f.length) return '–';
  return `${round(median(f))} (${round(Math.min(...f))}..${round(Math.max(...f))})`;
};

export async function run({ quick, nodeBin, progress, tmp }) {
  if (!hasPreload())
    return {
      status: 'not measured',
      notes: [`${PRELOAD} does not exist yet (the preload has not landed).`],
      comparisons: [],
      tables: [],
    };
  const { own, bins, notes: runtimeNotes } = await runtimes(nodeBin, progress);
  const variants = variantsFor({ own, bins, quick });
  const shapes = scenarios(quick);
  const rounds = quick ? 1 : 3;
  // HTTPS at every round trip (a new connection costs 2 round trips there, 1 over HTTP); HTTP at 2 ms for contrast.
  // Three rounds of this matrix take 25-30 minutes on a loaded 2-core machine, 8-10 on a quiet one.
  const paths = quick
    ? [
        ['http', 2],
        ['https', 2],
      ]
    : [
        ['http', 2],
        ['https', 0.5],
        ['https', 2],
        ['https', 10],
      ];
  const cells = paths.map(([proto, rtt]) => ({ key: `${proto}-${rtt}`, rtt, proto, group: `${proto}-${rtt}` }));
  const maxOrigins = Math.max(...Object.values(shapes).map((s) => s.origins));

  const tls = makeCertificate(tmp);
  const upstream = await startFixture(nodeBin, [join(FIXTURES, 'upstream.cjs')], {
    env: cleanEnv({ BENCH_KEY: tls.key, BENCH_CERT: tls.cert }),
    ipc: true,
  });
  const groups = cells.map((c) => ({
    group: c.group,
    oneWayMs: c.rtt / 2,
    upstreamPort: upstream.info[c.proto],
    ports: maxOrigins,
  }));
  const proxy = await startFixture(nodeBin, [join(FIXTURES, 'delay-proxy.cjs')], {
    env: cleanEnv({ BENCH_PROXY: JSON.stringify(groups) }),
    ipc: true,
  });
  const loads = [];
  const failedRuns = [];
  const loadNow = () => loads.push(os.loadavg()[0]);
  // samples[cell][scenario][metric][variant] = per-round values
  const samples = {};
  const put = (cell, sc, metric, v, x) => ((((samples[cell] ??= {})[sc] ??= {})[metric] ??= {})[v] ??= []).push(x);
  try {
    for (let r = 0; r < rounds; r++) {
      loadNow();
      if (shapes.idle) {
        // Idle by nature: every variant of every cell runs at once, start times
        // staggered so that no two calls meet; each call's latency is its own sample.
        const idleVariants = variants.filter((v) => !v.only || v.only.includes('idle'));
        progress(
          `[${id}] round ${r + 1}/${rounds} idle gaps: ${cells.length * idleVariants.length} clients side by side, 25 s or more`,
        );
        await ask(proxy.child, 'reset');
        const jobs = [];
        let k = 0;
        const stagger = shapes.idle.gapMs / (cells.length * idleVariants.length);
        for (const cell of cells) {
          for (const v of idleVariants) {
            // Each client gets its own origin (proxy port), so its handshakes are counted apart.
            const port = k % maxOrigins;
            const scenario = { ...shapes.idle, origins: 1 };
            const own = { ...proxy, info: { ports: { [cell.group]: [proxy.info.ports[cell.group][port]] } } };
            jobs.push(
              runClient({ variant: v, cell, scenario, proxy: own, tls, startDelayMs: k * stagger }).then(
                (client) => ({ cell, v, port, client }),
                (err) => (
                  failedRuns.push(`${cell.key} idle ${v.id}: ${String(err.message ?? err).slice(0, 200)}`), null
                ),
              ),
            );
            k++;
          }
        }
        const done = await Promise.all(jobs);
        const stats = await ask(proxy.child, 'stats');
        for (const { cell, v, port, client } of done.filter(Boolean)) {
          const later = client.latencies.slice(1);
          put(cell.key, 'idle', 'p50', v.id, median(later));
          put(cell.key, 'idle', 'p99', v.id, Math.max(...later));
          put(cell.key, 'idle', 'handshakes', v.id, stats[cell.group].ports[port]);
          put(cell.key, 'idle', 'failures', v.id, client.failures);
        }
        if (maxOrigins < idleVariants.length)
          progress(
            `[${id}] idle gaps: ${idleVariants.length} clients share ${maxOrigins} origins; handshake counts are per origin`,
          );
      }
      for (const cell of cells) {
        for (const [sc, scenario] of Object.entries(shapes)) {
          if (sc === 'idle') continue;
          const here = variants.filter((v) => !v.only || v.only.includes(sc));
          const order = (r + cells.indexOf(cell)) % 2 ? [...here].reverse() : here;
          const line = [];
          for (const v of order) {
            await ask(proxy.child, 'reset');
            let client;
            try {
              client = await runClient({ variant: v, cell, scenario, proxy, tls });
            } catch (err) {
              // One failed client process (killed, out of time) loses its sample, not the run.
              failedRuns.push(`${cell.key} ${sc} ${v.id}: ${String(err.message ?? err).slice(0, 200)}`);
              line.push(`${v.id} failed`);
              continue;
            }
            const connections = (await ask(proxy.child, 'stats'))[cell.group].connections;
            const m = metricsOf(client, connections);
            for (const [k, x] of Object.entries(m)) put(cell.key, sc, k, v.id, x);
            line.push(`${v.id} ${m.p50.toFixed(1)}`);
          }
          progress(`[${id}] round ${r + 1}/${rounds} ${cell.key} ms ${sc} p50: ${line.join(', ')}`);
        }
      }
    }
    loadNow();
    const delays = await ask(proxy.child, 'delays');
    const result = report({ quick, cells, shapes, variants, samples, rounds, loads, delays, runtimeNotes, own });
    if (failedRuns.length)
      result.notes.push(
        `Client runs that failed and left no sample (${failedRuns.length}): ${failedRuns.slice(0, 5).join('; ')}`,
      );
    return result;
  } finally {
    await stop(proxy.child);
    await stop(upstream.child);
  }
}

function report({ quick, cells, shapes, variants, samples, rounds, loads, delays, runtimeNotes, own }) {
  const has = new Set(variants.map((v) => v.id));
  const pairs = PAIRS.filter((p) => has.has(p.variant) && has.has(p.baseline));
  const claimRows = [];
  const ratioSamples = { p50: {}, p99: {}, rps: {}, handshakes: {} };
  const ratioVariants = [];
  for (const cell of cells) {
    for (const [sc, shape] of Object.entries(shapes)) {
      const s = samples[cell.key]?.[sc];
      if (!s) continue;
      for (const p of pairs) {
        if (!s.p50?.[p.variant]?.length) continue;
        const per = (metric, other = p.baseline) =>
          (s[metric]?.[p.variant] ?? []).map((x, i) => ratio(x, s[metric]?.[other]?.[i]));
        const p50 = per('p50');
        const p99 = per('p99');
        const rps = sc === 'idle' ? [] : per('rps');
        const hs = `${round(median(s.handshakes?.[p.variant] ?? []))} vs ${round(median(s.handshakes?.[p.baseline] ?? []))}`;
        const vsHand = has.has(p.hand) ? spread(per('p50', p.hand)) : '–';
        claimRows.push([
          `${cell.proto.toUpperCase()} ${cell.rtt} ms`,
          sc,
          p.variant,
          spread(p50),
          spread(p99),
          sc === 'idle' ? '–' : spread(rps),
          hs,
          vsHand,
          claimVerdict(p50, (x) => x <= 0.8),
          sc === 'idle' ? '–' : claimVerdict(rps, (x) => x >= 1.3),
        ]);
        if (p.variant === 'titan' || p.variant === 'http-titan') {
          const vid = `${p.variant === 'titan' ? 'fetch' : 'http'} ${cell.proto} ${cell.rtt}ms ${sc}`;
          ratioVariants.push({ id: vid, label: vid });
          ratioSamples.p50[vid] = p50;
          ratioSamples.p99[vid] = p99;
          if (sc !== 'idle') ratioSamples.rps[vid] = rps;
          ratioSamples.handshakes[vid] = per('handshakes');
        }
      }
    }
  }
  const comparisons = [
    ['p50', 'p50 latency, titan-perf / default Node (per round)', true],
    ['p99', 'p99 latency, titan-perf / default Node (per round)', true],
    ['rps', 'throughput, titan-perf / default Node (per round)', false],
    ['handshakes', 'connections opened, titan-perf / default Node (per round)', true],
  ].map(([metric, t, lower]) =>
    makeComparison({
      id: `ratio-${metric}`,
      title: t,
      unit: 'ratio',
      baseline: null,
      lowerIsBetter: lower,
      variants: ratioVariants.filter((v) => ratioSamples[metric][v.id]?.length),
      samples: ratioSamples[metric],
      note: "Each sample is one round's ratio of the preloaded client to default Node with the same client code on the same runtime; the bar is the median over rounds, the whisker min..max. Below 1 is better for latency and connections, above 1 for throughput.",
    }),
  );
  const detail = [];
  for (const cell of cells) {
    const rows = [];
    for (const [sc] of Object.entries(shapes)) {
      const s = samples[cell.key]?.[sc];
      if (!s) continue;
      for (const v of variants) {
        if (!s.p50?.[v.id]?.length) continue;
        const m = (k) => round(median(s[k]?.[v.id] ?? []));
        rows.push([sc, v.label, m('p50'), m('p99'), sc === 'idle' ? '–' : m('rps'), m('handshakes'), m('failures')]);
      }
    }
    detail.push({
      title: `${cell.proto.toUpperCase()} through the proxy, round trip ${cell.rtt} ms: medians over ${rounds} round(s)`,
      columns: ['scenario', 'variant', 'p50 ms', 'p99 ms', 'req/s', 'connections', 'failed calls'],
      rows,
    });
  }
  const claim = {
    first: true,
    title: CLAIM_TITLE,
    note:
      'Ratios of the preloaded client to default Node (same client code, same runtime): median over rounds (min..max). Latency claim: p50 ratio <= 0.80; throughput claim: ratio >= 1.30. "vs hand-tuned": p50 of the preload / p50 of the hand-tuned agent with the same limits (undici Agent for fetch, agentkeepalive for http.request). ' +
      'Idle gaps: p50 = median latency of calls 2..4, p99 = the slowest of them; no throughput.',
    columns: [
      'path',
      'scenario',
      'variant',
      'p50 ratio',
      'p99 ratio',
      'throughput ratio',
      'connections (variant vs default)',
      'p50 vs hand-tuned',
      'latency claim',
      'throughput claim',
    ],
    rows: claimRows,
  };
  const delayTable = {
    title: 'Realized one-way delay at the proxy (all chunks of the run)',
    note: "Node's timers have 1 ms resolution: below 1 ms the proxy polls; the p99 shows how much the shared machine's scheduling added.",
    columns: ['configured one-way ms', 'chunks', 'p50 ms', 'p99 ms'],
    rows: Object.entries(delays).map(([d, x]) => [Number(d), x.chunks, x.p50, x.p99]),
  };
  const loadText = loads.map((x) => x.toFixed(2)).join(', ');
  return {
    status: 'measured',
    parameters: {
      rounds,
      rtts: cells.map((c) => c.rtt).filter((x, i, a) => a.indexOf(x) === i),
      protocols: ['http', 'https'],
      scenarios: shapes,
      limits: LIMITS,
      loadAverage1m: loads,
    },
    notes: [
      ...runtimeNotes,
      `Path: client process -> delaying TCP proxy (its own process, fixed delay of half the round trip in each direction, bytes kept in order) -> upstream (node:http and node:https in one process, keep-alive kept by the server and no Keep-Alive hint, so the client's idle timeout decides reuse). Connections are counted at the proxy: one per TCP handshake, and each one is also a TLS handshake over HTTPS.`,
      `Every variant runs the same client file (bench/fixtures/net-client.mjs) in a fresh process; the preloaded and hand-tuned variants on Node ${own}. Rounds: ${rounds}; within a round each cell and scenario runs all variants back to back, order alternating. Load average (1 min) at the start of each round and at the end: ${loadText}.`,
      quick
        ? 'Quick mode: one round trip (2 ms), steady and burst shapes only, fewer variants; numbers are a smoke test, not a result.'
        : '',
    ].filter(Boolean),
    comparisons,
    tables: [claim, ...detail, delayTable],
  };
}

/** With `--repeat`: the claim's ratios and verdicts of each full run side by side. */
export function acrossRuns(runs) {
  const table = columnsAcrossRuns(runs, {
    tableTitle: CLAIM_TITLE,
    keyColumns: 3,
    // p50 ratio, throughput ratio, latency claim, throughput claim
    byRunColumns: [3, 5, 8, 9],
    title: `The pooling claim in each of ${runs.length} full runs`,
    note: "Each cell: run 1 / run 2 / ... (each run's median over its own rounds). A claim that holds in one run and not in the next is not a property of the code.",
  });
  return table ? [table] : [];
}
