#!/usr/bin/env node
// `npm run bench`: every measurement of titan-perf's costs and gains, side by
// side with the anchors, interleaved, written to bench/results/.
//   --quick          a smoke version (about a minute)
//   --only a,b       run some parts: startup, throughput, steady, pooling, network, shortjob, watching, stalls, sidecar, gc
//   --node 22        measure on another project runtime (default: the Node running this script)
//   --out DIR        where results go (default bench/results)
//   --no-build       do not compile the library first
//   --no-install     do not install bench/'s own packages (the anchors) when missing
//   --repeat N       run the selected parts N times in full, one after the other, and
//                    report how far each result moved between runs (the detail is the last run)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { comparisonsAcrossRuns, targetsAcrossRuns } from './lib/across-runs.mjs';
import { describeMachine, machineLine } from './lib/machine.mjs';
import { writeResults } from './lib/report.mjs';
import { ANCHORS, BENCH, ROOT, anchorInstalled } from './lib/subject.mjs';

const PART_IDS = [
  'startup',
  'throughput',
  'steady',
  'pooling',
  'network',
  'shortjob',
  'watching',
  'stalls',
  'sidecar',
  'gc',
];
const ANCHOR_PARTS = new Set(['startup', 'throughput', 'steady', 'network', 'shortjob']);

function usage(message) {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(
    `usage: node bench/run.mjs [--quick] [--only ${PART_IDS.join(',')}] [--node 22|24|26] [--out DIR] [--no-build] [--no-install] [--repeat N]\n`,
  );
  process.exit(2);
}

export function parseArgs(argv) {
  const o = {
    quick: false,
    only: PART_IDS,
    node: null,
    out: join(BENCH, 'results'),
    build: true,
    install: true,
    repeat: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--quick') o.quick = true;
    else if (a === '--only') {
      o.only = value().split(',').filter(Boolean);
      const bad = o.only.filter((p) => !PART_IDS.includes(p));
      if (bad.length) usage(`--only: unknown part ${bad.join(', ')}; parts are ${PART_IDS.join(', ')}`);
    } else if (a === '--node') o.node = value();
    else if (a === '--out') o.out = value();
    else if (a === '--no-build') o.build = false;
    else if (a === '--no-install') o.install = false;
    else if (a === '--repeat') {
      o.repeat = Number(value());
      if (!Number.isInteger(o.repeat) || o.repeat < 1 || o.repeat > 10) usage('--repeat: an integer from 1 to 10');
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  return o;
}

const progress = (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let nodeBin = process.execPath;
  if (opts.node) {
    const { ensureRuntime } = await import(pathToFileURL(join(ROOT, 'scripts', 'runtimes.mjs')).href);
    nodeBin = ensureRuntime(opts.node);
  }
  if (opts.build) {
    progress('building the library (tsc)');
    // tsc emits even when some file has a type error; the parts check for what they need.
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) progress('tsc reported errors; measuring whatever was emitted');
  }
  if (opts.install && opts.only.some((p) => ANCHOR_PARTS.has(p)) && !Object.keys(ANCHORS).every(anchorInstalled)) {
    progress('installing the anchors into bench/node_modules (npm ci --prefix bench)');
    const r = spawnSync('npm', ['ci', '--prefix', BENCH, '--no-audit', '--no-fund'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) progress('npm ci in bench/ failed; anchors that are missing will be reported as not measured');
  }

  const machine = describeMachine(nodeBin);
  progress(`machine: ${machineLine(machine)}`);
  const started = Date.now();
  const tmp = mkdtempSync(join(os.tmpdir(), 'titan-bench-run-'));
  const results = {
    schema: 1,
    startedAt: new Date(started).toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    machine,
    parameters: { only: opts.only, quick: opts.quick, repeat: opts.repeat },
    parts: {},
  };
  let failed = 0;
  /** part id -> its result in each full run, oldest first */
  const runsOf = Object.fromEntries(opts.only.map((p) => [p, []]));
  try {
    for (let k = 0; k < opts.repeat; k++) {
      for (const partId of opts.only) {
        const part = await import(`./parts/${partId}.mjs`);
        progress(`part ${partId}${opts.repeat > 1 ? ` (run ${k + 1}/${opts.repeat})` : ''}: ${part.title}`);
        const t0 = Date.now();
        let result;
        try {
          result = await part.run({ quick: opts.quick, nodeBin, progress, tmp });
        } catch (err) {
          failed++;
          progress(`part ${partId} failed: ${err.stack ?? err}`);
          result = {
            status: 'failed',
            notes: [`failed: ${String(err.message ?? err).slice(0, 500)}`],
            comparisons: [],
            tables: [],
          };
        }
        runsOf[partId].push({ ...result, durationS: Math.round((Date.now() - t0) / 1000) });
      }
    }
    for (const partId of opts.only) {
      const part = await import(`./parts/${partId}.mjs`);
      const runs = runsOf[partId];
      const last = runs[runs.length - 1];
      // 'partial' runs (an anchor missing) have comparisons too; 'failed' and 'not measured' have none.
      const measured = runs.filter((r) => r.comparisons?.length > 0);
      if (measured.length > 1) {
        const across = [
          targetsAcrossRuns(measured),
          comparisonsAcrossRuns(measured),
          ...(part.acrossRuns?.(measured) ?? []),
        ].filter(Boolean);
        last.tables = [...across.map((t) => ({ ...t, first: true })), ...(last.tables ?? [])];
        last.notes = [
          ...(last.notes ?? []),
          `Run ${runs.length} times in full (${runs.map((r) => `${r.durationS} s`).join(', ')}); the detail is the last run.`,
        ];
      }
      results.parts[partId] = { id: partId, title: part.title, ...last };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  results.durationS = Math.round((Date.now() - started) / 1000);
  results.loadAverageAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  writeResults(opts.out, results);
  progress(`done in ${results.durationS} s: ${join(opts.out, 'report.md')}`);
  for (const p of Object.values(results.parts)) {
    for (const c of p.comparisons) {
      const rows = c.rows
        .map((r) => `${r.id} ${r.median}${!c.baseline || r.id === c.baseline ? '' : ` (x${r.ratio})`}`)
        .join(', ');
      process.stdout.write(`${p.id} / ${c.title} [${c.unit}]: ${rows}\n`);
    }
    if (p.status !== 'measured')
      process.stdout.write(`${p.id}: ${p.status}${p.notes?.length ? `: ${p.notes[0]}` : ''}\n`);
  }
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) await main();
