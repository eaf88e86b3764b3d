// Writes one run's results: JSON with everything (machine, parameters, raw
// samples), a Markdown report a person reads, and one SVG chart per comparison.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLine } from './machine.mjs';
import { barChart } from './svg.mjs';

const n = (x) => (x === null || x === undefined || (typeof x === 'number' && !Number.isFinite(x)) ? '–' : String(x));

function targetRows(results) {
  const rows = [];
  for (const part of Object.values(results.parts)) {
    for (const c of part.comparisons ?? []) {
      const base = c.rows.find((r) => r.id === c.baseline);
      // The baseline's own spread says how large a difference this run can resolve.
      const baselineSpread = base ? `${n(base.median)} (${n(base.min)}..${n(base.max)}) ${c.unit}` : '';
      for (const t of c.targets ?? []) rows.push({ part: part.title, comparison: c.title, baselineSpread, ...t });
    }
  }
  return rows;
}

function verdict(ok) {
  return ok === true ? 'met' : ok === false ? '**missed**' : 'not measured';
}

function comparisonMarkdown(c) {
  const lines = [`#### ${c.title}`, ''];
  if (c.note) lines.push(c.note, '');
  if (c.baseline) {
    lines.push(
      `| variant | median (${c.unit}) | min | max | n | ratio to ${c.baseline} | difference | paired difference |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
  } else {
    lines.push(`| variant | median (${c.unit}) | min | max | n |`, '|---|---:|---:|---:|---:|');
  }
  for (const r of c.rows) {
    const cells = [r.label, n(r.median), n(r.min), n(r.max), r.n];
    if (c.baseline)
      cells.push(
        r.id === c.baseline ? 'baseline' : n(r.ratio),
        r.id === c.baseline ? '' : n(r.delta),
        r.id === c.baseline ? '' : n(r.pairedDelta),
      );
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (c.baseline)
    lines.push(
      '',
      "Difference = difference of the medians; paired difference = median of the per-round differences (each round's runs sat next to each other under the same load).",
    );
  lines.push('', `![${c.title}](${c.chart})`, '');
  for (const t of c.targets ?? []) lines.push(`- Target: ${t.text}: measured ${n(t.measured)}, ${verdict(t.ok)}.`);
  if (c.targets?.length) lines.push('');
  return lines.join('\n');
}

function tableMarkdown(t) {
  const lines = [`#### ${t.title}`, ''];
  if (t.note) lines.push(t.note, '');
  lines.push(`| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
  for (const row of t.rows) lines.push(`| ${row.map(n).join(' | ')} |`);
  lines.push('');
  return lines.join('\n');
}

export function renderMarkdown(results) {
  const m = results.machine;
  const out = [
    '# titan-perf benchmarks',
    '',
    `Run ${results.startedAt} (${results.mode} mode, ${results.durationS} s), parts: ${Object.keys(results.parts).join(', ')}.`,
    '',
    `Machine: ${machineLine(m)}; load average at the end ${results.loadAverageAtEnd.join(' ')}.`,
    '',
    'Every comparison ran interleaved (A B, B A, ... per round); the tables give the median, min and max of the rounds and the ratio of medians. ' +
      'The machine is shared and noisy: read the min..max spread before a ratio, and never a single absolute number as the result.',
    '',
    `Reproduce: \`npm run bench\` (all parts, Node 24), \`npm run bench -- --quick\`, \`npm run bench -- --only ${Object.keys(results.parts)[0]}\`, \`npm run bench -- --node 22\`, \`npm run bench -- --only network --repeat 3\` (three full runs side by side).`,
    '',
  ];
  const targets = targetRows(results);
  if (targets.length) {
    out.push(
      '## Targets',
      '',
      '| part | target | measured | verdict | baseline median (min..max) |',
      '|---|---|---:|---|---|',
    );
    for (const t of targets)
      out.push(`| ${t.part} | ${t.text} | ${n(t.measured)} | ${verdict(t.ok)} | ${t.baselineSpread ?? ''} |`);
    out.push('');
  }
  for (const part of Object.values(results.parts)) {
    out.push(`## ${part.title}`, '', `Status: ${part.status}.`, '');
    if (part.ranAt)
      out.push(
        `Measured in an earlier run: ${part.ranAt}, ${part.ranOn}; load average at its end ${part.loadAverageAtEnd?.join(' ')}.`,
        '',
      );
    for (const note of part.notes ?? []) out.push(`- ${note}`);
    if (part.notes?.length) out.push('');
    if (part.parameters && Object.keys(part.parameters).length)
      out.push(`Parameters: \`${JSON.stringify(part.parameters)}\``, '');
    // A part's summary table (first: true) is what a reader wants before the detail.
    for (const t of (part.tables ?? []).filter((t) => t.first)) out.push(tableMarkdown(t));
    for (const c of part.comparisons ?? []) out.push(comparisonMarkdown(c));
    for (const t of (part.tables ?? []).filter((t) => !t.first)) out.push(tableMarkdown(t));
  }
  return out.join('\n');
}

/**
 * A run of some parts (--only) keeps the other parts of the previous results
 * in `dir`, each with the machine line and time of the run that measured it,
 * so one results file holds the latest measurement of every part.
 */
function keepEarlierParts(dir, results) {
  const file = join(dir, 'results.json');
  if (!existsSync(file)) return;
  let earlier;
  try {
    earlier = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  if (earlier?.schema !== results.schema || !earlier.parts) return;
  const kept = {};
  for (const [partId, part] of Object.entries(earlier.parts)) {
    if (results.parts[partId]) continue;
    kept[partId] = {
      ranAt: earlier.startedAt,
      ranOn: machineLine(earlier.machine),
      loadAverageAtEnd: earlier.loadAverageAtEnd,
      ...part,
    };
  }
  results.parts = { ...kept, ...results.parts };
}

/** Writes results.json, report.md and the charts into `dir`, replacing the previous run's charts. */
export function writeResults(dir, results) {
  mkdirSync(dir, { recursive: true });
  keepEarlierParts(dir, results);
  for (const f of readdirSync(dir)) if (f.endsWith('.svg')) rmSync(join(dir, f));
  for (const part of Object.values(results.parts)) {
    for (const c of part.comparisons ?? []) {
      c.chart = `${part.id}-${c.id}.svg`;
      writeFileSync(join(dir, c.chart), barChart(c));
    }
  }
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(dir, 'report.md'), renderMarkdown(results));
}
