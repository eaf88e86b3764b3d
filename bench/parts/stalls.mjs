// The cost of watching for event-loop stalls and how fast and exact it is:
// idle CPU and wake-ups (timer vs per-iteration sampling vs bare), throughput
// and CPU per request with the stall watchdog on/off/bare, time from a
// stall's end to its warning, and the time the watchdog's pause adds to a
// stall; a Sentry-style heartbeat (main-thread interval + worker) rebuilt
// without its package for comparison.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeComparison } from '../lib/comparison.mjs';
import { interleave } from '../lib/interleave.mjs';
import { loadGenerator, loadRps } from '../lib/load.mjs';
import { startFixture, sleep, stop } from '../lib/proc.mjs';
import { procUsage } from '../lib/procfs.mjs';
import { median, round } from '../lib/stats.mjs';
import { FIXTURES, PRELOAD, cleanEnv, hasPreload } from '../lib/subject.mjs';

export const id = 'stalls';
export const title = 'Event-loop stalls: cost of sampling and of the stack watchdog, warning latency, pause cost';

const FIXTURE = join(FIXTURES, 'stall-service.cjs');
const QUIET = { OTEL_METRICS_EXPORTER: 'none', TITAN_PERF_TELEMETRY__ENABLED: 'false' };
const WATCHDOG = {
  TITAN_PERF_NODEJS__STALL_CAPTURE__ENABLED: 'true',
  TITAN_PERF_NODEJS__STALL_CAPTURE__THRESHOLD: '40',
};

/** Voluntary context switches of every thread of the process: how often it went to sleep and was woken. */
function wakeups(pid) {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      if (m) n += Number(m[1]);
    } catch {
      // the thread ended
    }
  }
  return n;
}

/**
 * Run time of a process's threads from the scheduler (ns; far finer than the
 * 10 ms ticks of /proc/PID/stat): all of them, and the watchdog thread alone
 * with its wake-ups. Linux keeps 15 characters of a thread's name: the
 * watchdog worker, named 'titan-perf watchdog', shows as 'titan-perf watc'.
 */
function threadTimes(pid) {
  const out = { totalNs: 0, watchdogNs: 0, watchdogWakeups: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      out.totalNs += ns;
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('titan-perf watc')) {
        out.watchdogNs += ns;
        const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
        out.watchdogWakeups += Number(m?.[1] ?? 0);
      }
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Private (anonymous) and file-backed resident memory, MiB: the binary's pages are shared and reclaimable. */
function rssParts(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { anonMiB: kib('RssAnon'), fileMiB: kib('RssFile') };
}

/** The main thread's CPU per answered ping, µs (an upper bound: each answer includes a wake-up). */
function pingAnswerCost(nodeBin) {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const out = execFileSync(nodeBin, [join(FIXTURES, 'ping-answer.cjs'), '2000'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    runs.push(JSON.parse(out.trim()).usPerPing);
  }
  return { median: median(runs), runs };
}

function start(variant, nodeBin) {
  const args = variant.preload ? ['--require', PRELOAD, FIXTURE] : [FIXTURE];
  return startFixture(nodeBin, args, { env: cleanEnv({ ...QUIET, ...variant.env }), ipc: true });
}

const IDLE_VARIANTS = [
  { id: 'bare', label: 'bare node' },
  { id: 'timer', label: 'monitorEventLoopDelay, 10 ms timer', env: { BENCH_WATCH: 'timer' } },
  { id: 'per-iteration', label: 'monitorEventLoopDelay, per iteration', env: { BENCH_WATCH: 'per-iteration' } },
  { id: 'preload', label: 'preload (its sampling mode for this Node)', preload: true },
  { id: 'preload-watchdog', label: 'preload + stall watchdog', preload: true, env: WATCHDOG },
  {
    id: 'sentry-style',
    label: 'Sentry-style heartbeat (50 ms interval + worker)',
    env: { BENCH_WATCH: 'sentry-style' },
  },
];

const LOAD_VARIANTS = [
  { id: 'bare', label: 'bare node' },
  { id: 'preload', label: 'preload, watchdog off', preload: true },
  { id: 'preload-watchdog', label: 'preload + stall watchdog', preload: true, env: WATCHDOG },
  { id: 'sentry-style', label: 'Sentry-style heartbeat', env: { BENCH_WATCH: 'sentry-style' } },
];

async function idleRound(variant, nodeBin, seconds) {
  const { child } = await start(variant, nodeBin);
  try {
    await sleep(1500); // past start-up and the preload's settle step
    const u0 = procUsage(child.pid);
    const w0 = wakeups(child.pid);
    await sleep(seconds * 1000);
    const u1 = procUsage(child.pid);
    const w1 = wakeups(child.pid);
    const parts = rssParts(child.pid);
    return {
      cpuMsPerS: (u1.cpuMs - u0.cpuMs) / seconds,
      wakeupsPerS: (w1 - w0) / seconds,
      rssMiB: u1.rssMiB,
      rssAnonMiB: parts.anonMiB,
      rssFileMiB: parts.fileMiB,
    };
  } finally {
    await stop(child);
  }
}

async function loadRound(variant, nodeBin, seconds, pingUs) {
  const { child, info } = await start(variant, nodeBin);
  try {
    await sleep(1000);
    const u0 = procUsage(child.pid);
    const t0 = threadTimes(child.pid);
    const r = await loadRps({ url: `http://127.0.0.1:${info.port}/`, seconds, connections: 16, nodeBin });
    const u1 = procUsage(child.pid);
    const t1 = threadTimes(child.pid);
    const requests = Math.max(1, r.requests);
    const out = {
      rps: r.rps,
      cpuUsPerRequest: ((u1.cpuMs - u0.cpuMs) * 1000) / requests,
      rssMiB: u1.rssMiB,
    };
    if (t1.watchdogNs > 0) {
      // A busy main thread answers at most one ping per watchdog wake-up.
      const pings = t1.watchdogWakeups - t0.watchdogWakeups;
      const threadNs = t1.watchdogNs - t0.watchdogNs;
      const totalNs = t1.totalNs - t0.totalNs;
      out.watchdogThreadUsPerRequest = threadNs / 1000 / requests;
      out.watchdogThreadSharePct = (100 * threadNs) / totalNs;
      out.watchdogSharePct = (100 * (threadNs + pings * pingUs * 1000)) / totalNs;
      out.watchdogWakeupsPerS = pings / seconds;
    }
    return out;
  } finally {
    await stop(child);
  }
}

/** Induced stalls: how long after its end the warning arrives, and how long the same work takes with and without the watchdog. */
async function stallRound(variant, nodeBin, rounds, workRounds) {
  const { child } = await start(variant, nodeBin);
  const events = [];
  child.on('message', (m) => events.push(m));
  try {
    await sleep(1500);
    const out = { lag: [], work: [], paused: [] };
    for (let i = 0; i < rounds; i++) {
      const before = events.length;
      child.send({ stall: workRounds });
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !events.slice(before).some((e) => e.event === 'work')) await sleep(20);
      const work = events.slice(before).find((e) => e.event === 'work');
      if (work) out.work.push(work.ms);
      if (variant.preload) {
        while (Date.now() < deadline && !events.slice(before).some((e) => e.event === 'stall' && !e.self))
          await sleep(20);
        const stall = events.slice(before).find((e) => e.event === 'stall' && !e.self);
        if (stall && work) out.lag.push(stall.seenAt - work.end);
        if (stall?.pausedMs !== undefined) out.paused.push(stall.pausedMs);
      }
      await sleep(300);
    }
    return out;
  } finally {
    await stop(child);
  }
}

function calibrate() {
  // About 150 ms of work on this machine, measured here so the stall is well over the 40 ms threshold.
  let x = 0;
  const t = performance.now();
  const n = 20_000_000;
  for (let i = 0; i < n; i++) x = (x + Math.sqrt(i)) % 1e9;
  const ms = performance.now() - t;
  return Math.max(1_000_000, Math.round((n * 150) / Math.max(1, ms)));
}

export async function run({ quick, nodeBin, progress }) {
  if (!hasPreload())
    return { status: 'not measured', notes: [`${PRELOAD} does not exist yet.`], comparisons: [], tables: [] };
  const idleSeconds = quick ? 5 : 20;
  const idleRounds = quick ? 3 : 5;
  const idle = await interleave({
    label: `${id} idle`,
    variants: IDLE_VARIANTS,
    rounds: idleRounds,
    measure: (v) => idleRound(v, nodeBin, idleSeconds),
    progress,
  });
  const comparisons = [
    makeComparison({
      id: 'idle-cpu',
      title: 'Idle CPU',
      unit: 'CPU ms per s',
      baseline: 'bare',
      lowerIsBetter: true,
      variants: IDLE_VARIANTS,
      samples: idle.cpuMsPerS,
    }),
    makeComparison({
      id: 'idle-wakeups',
      title: 'Idle wake-ups (voluntary context switches, all threads)',
      unit: 'per s',
      baseline: 'bare',
      lowerIsBetter: true,
      variants: IDLE_VARIANTS,
      samples: idle.wakeupsPerS,
    }),
    makeComparison({
      id: 'idle-rss',
      title: 'Idle RSS',
      unit: 'MiB',
      baseline: 'preload',
      lowerIsBetter: true,
      variants: IDLE_VARIANTS,
      samples: idle.rssMiB,
      targets: [
        {
          variant: 'preload-watchdog',
          kind: 'delta-max',
          limit: 8,
          text: 'the watchdog costs at most 8 MiB RSS over the preload alone',
        },
      ],
    }),
    makeComparison({
      id: 'idle-rss-anon',
      title: 'Idle RSS, private (anonymous) part',
      unit: 'MiB',
      baseline: 'preload',
      lowerIsBetter: true,
      variants: IDLE_VARIANTS,
      samples: idle.rssAnonMiB,
      note: 'Heaps, stacks and malloc: memory only this process holds.',
    }),
    makeComparison({
      id: 'idle-rss-file',
      title: 'Idle RSS, file-backed part',
      unit: 'MiB',
      baseline: 'preload',
      lowerIsBetter: true,
      variants: IDLE_VARIANTS,
      samples: idle.rssFileMiB,
      note: 'Pages of the node binary and of the files it maps: shared with every process that runs the same binary, and the kernel can drop them under memory pressure.',
    }),
  ];
  const notes = [
    `Idle: each process idles ${idleSeconds} s after a 1.5 s settle; CPU from /proc/PID/stat, wake-ups as voluntary context switches summed over /proc/PID/task/*/status; ${idleRounds} interleaved rounds.`,
  ];
  if (loadGenerator()) {
    const seconds = quick ? 4 : 10;
    const rounds = quick ? 3 : 5;
    const ping = pingAnswerCost(nodeBin);
    progress(`[${id} load] main thread per answered ping: ${ping.runs.map((x) => round(x)).join(', ')} µs`);
    const load = await interleave({
      label: `${id} load`,
      variants: LOAD_VARIANTS,
      rounds,
      measure: (v) => loadRound(v, nodeBin, seconds, ping.median),
      progress,
    });
    comparisons.push(
      makeComparison({
        id: 'load-rps',
        title: 'Throughput, node:http hello world',
        unit: 'requests per s',
        baseline: 'bare',
        lowerIsBetter: false,
        variants: LOAD_VARIANTS,
        samples: load.rps,
      }),
      makeComparison({
        id: 'load-cpu',
        title: 'CPU per request',
        unit: 'CPU µs per request',
        baseline: 'preload',
        lowerIsBetter: true,
        variants: LOAD_VARIANTS,
        samples: load.cpuUsPerRequest,
        targets: [
          {
            variant: 'preload-watchdog',
            kind: 'ratio-max',
            limit: 1.01,
            text: 'the watchdog costs at most 1% CPU per request',
          },
        ],
      }),
      makeComparison({
        id: 'load-watchdog-share',
        title: "The watchdog's share of the process's CPU under load",
        unit: '% of process CPU',
        baseline: null,
        lowerIsBetter: true,
        variants: LOAD_VARIANTS,
        samples: load.watchdogSharePct,
        note: `The watchdog thread's own run time (from /proc/PID/task/TID/schedstat) plus the main thread's answers to its pings (at most one per watchdog wake-up, ${round(ping.median)} µs each, an upper bound measured on an idle main thread), over the run time of all the process's threads in the same round. Unlike CPU per request across rounds, this is measured inside one process, so the machine's load swings between rounds do not enter it.`,
        targets: [
          {
            variant: 'preload-watchdog',
            kind: 'value-max',
            limit: 1,
            text: 'the watchdog costs at most 1% of the CPU of a busy service',
          },
        ],
      }),
      makeComparison({
        id: 'load-watchdog-thread-cpu',
        title: "The watchdog thread's CPU per request",
        unit: 'CPU µs per request',
        baseline: null,
        lowerIsBetter: true,
        variants: LOAD_VARIANTS,
        samples: load.watchdogThreadUsPerRequest,
      }),
      makeComparison({
        id: 'load-watchdog-wakeups',
        title: "The watchdog thread's wake-ups under load",
        unit: 'per s',
        baseline: null,
        lowerIsBetter: true,
        variants: LOAD_VARIANTS,
        samples: load.watchdogWakeupsPerS,
      }),
      makeComparison({
        id: 'load-rss',
        title: 'RSS under load',
        unit: 'MiB',
        baseline: 'preload',
        lowerIsBetter: true,
        variants: LOAD_VARIANTS,
        samples: load.rssMiB,
      }),
    );
    notes.push(
      `Load: ${loadGenerator()} with 16 connections for ${seconds} s per round, ${rounds} interleaved rounds; CPU per request = process CPU time / requests served.`,
    );
  } else notes.push('Load: no load generator (wrk or autocannon), throughput not measured.');

  const workRounds = calibrate();
  const stallVariants = [
    { id: 'preload', label: 'preload, watchdog off', preload: true },
    { id: 'preload-watchdog', label: 'preload + stall watchdog (40 ms)', preload: true, env: WATCHDOG },
  ];
  const stallsPer = quick ? 4 : 10;
  const stalls = {};
  for (let r = 0; r < (quick ? 2 : 3); r++) {
    for (const v of r % 2 ? [...stallVariants].reverse() : stallVariants) {
      const out = await stallRound(v, nodeBin, stallsPer, workRounds);
      for (const k of Object.keys(out)) ((stalls[k] ??= {})[v.id] ??= []).push(...out[k]);
      progress(
        `[${id} stalls] round ${r + 1}: ${v.id} work ${round(median(out.work))} ms, warning after ${round(median(out.lag))} ms`,
      );
    }
  }
  comparisons.push(
    makeComparison({
      id: 'stall-work',
      title: 'The same JavaScript work (a ~150 ms stall), wall time',
      unit: 'ms',
      baseline: 'preload',
      lowerIsBetter: true,
      variants: stallVariants,
      samples: stalls.work,
      note: 'The difference is what pausing the main thread for its stack adds to a stall.',
    }),
    makeComparison({
      id: 'stall-lag',
      title: 'From the end of a stall to its event',
      unit: 'ms',
      baseline: null,
      lowerIsBetter: true,
      variants: stallVariants,
      samples: stalls.lag,
      targets: [
        {
          variant: 'preload',
          kind: 'max-max',
          limit: 1000,
          text: 'every stall is reported within one second of its end',
        },
      ],
    }),
    makeComparison({
      id: 'stall-paused',
      title: 'Main thread paused for the stack',
      unit: 'ms',
      baseline: null,
      lowerIsBetter: true,
      variants: stallVariants,
      samples: stalls.paused,
    }),
  );
  notes.push(
    `Stalls: ${stallsPer} per process, ${workRounds} rounds of Math.sqrt work each (fixed work, so the pause shows as added wall time); threshold 100 ms default / watchdog 40 ms.`,
  );
  return { status: 'measured', parameters: { quick, idleSeconds, workRounds }, notes, comparisons, tables: [] };
}
