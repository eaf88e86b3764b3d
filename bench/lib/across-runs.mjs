// A part run several times in full (`--repeat N`): how far each result moved
// from one run to the next. Rounds inside one run share that run's phase of
// the machine (its load, its page cache, the other tenants' work); whole runs
// apart say whether a ratio is a property of the code or of the afternoon.
import { median, round } from './stats.mjs';

const n = (x) => (Number.isFinite(x) ? String(round(x)) : '–');

/** (max - min) / |median| of the run medians, in percent: how far apart the runs landed. */
export function runSpreadPct(values) {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return NaN;
  const m = Math.abs(median(finite));
  return m === 0 ? NaN : ((Math.max(...finite) - Math.min(...finite)) / m) * 100;
}

/**
 * One table over every comparison of the part: each run's median per variant
 * and the spread between runs. `runs` are the part's results, oldest first.
 */
export function comparisonsAcrossRuns(runs) {
  const last = runs[runs.length - 1];
  const rows = [];
  const push = (title, label, values) =>
    rows.push([title, label, ...values.map(n), n(median(values.filter(Number.isFinite))), n(runSpreadPct(values))]);
  for (const c of last.comparisons ?? []) {
    for (const r of c.rows) {
      const row = (run) => run.comparisons?.find((x) => x.id === c.id)?.rows.find((x) => x.id === r.id);
      push(
        c.title,
        r.label,
        runs.map((run) => row(run)?.median ?? NaN),
      );
      // The per-round differences are the steadier figure where a target is judged on them.
      if (c.baseline && r.id !== c.baseline)
        push(
          c.title,
          `${r.label}: paired difference to ${c.baseline}`,
          runs.map((run) => row(run)?.pairedDelta ?? NaN),
        );
    }
  }
  return {
    id: 'across-runs',
    title: `Across ${runs.length} full runs: each run's median`,
    note:
      'Each run is the whole part from its start, one after the other; the detail below is the last run. ' +
      'Spread = (highest - lowest run median) / median of the runs, in percent.',
    columns: ['comparison', 'variant', ...runs.map((_, i) => `run ${i + 1}`), 'median of runs', 'spread %'],
    rows,
  };
}

/**
 * Some columns of a part's table, run by run: rows are matched on their
 * `keyColumns` first cells; each run's cell (without its "(min..max)") sits
 * beside the others'.
 */
export function columnsAcrossRuns(runs, { tableTitle, keyColumns, byRunColumns, title, note }) {
  const tables = runs.map((run) => run.tables?.find((t) => t.title === tableTitle));
  const last = tables[tables.length - 1];
  if (!last) return undefined;
  const index = (t) => new Map((t?.rows ?? []).map((row) => [row.slice(0, keyColumns).join('\u0000'), row]));
  const indexed = tables.map(index);
  const columns = [...last.columns.slice(0, keyColumns)];
  for (const c of byRunColumns) columns.push(`${last.columns[c]}, by run`);
  const rows = last.rows.map((row) => {
    const key = row.slice(0, keyColumns).join('\u0000');
    const cells = row.slice(0, keyColumns);
    for (const c of byRunColumns)
      cells.push(indexed.map((m) => String(m.get(key)?.[c] ?? '–').split(' (')[0]).join(' / '));
    return cells;
  });
  return { id: 'columns-across-runs', title, note, columns, rows };
}

/** Each target of the part as each run measured it, and in how many runs it was met. */
export function targetsAcrossRuns(runs) {
  const last = runs[runs.length - 1];
  const rows = [];
  for (const c of last.comparisons ?? []) {
    for (const t of c.targets ?? []) {
      const per = runs.map((run) =>
        run.comparisons?.find((x) => x.id === c.id)?.targets?.find((x) => x.text === t.text),
      );
      const met = per.filter((x) => x?.ok === true).length;
      rows.push([t.text, ...per.map((x) => n(x?.measured ?? NaN)), `${met} of ${runs.length}`]);
    }
  }
  if (rows.length === 0) return undefined;
  return {
    id: 'targets-across-runs',
    title: `Targets in each of ${runs.length} full runs`,
    columns: ['target', ...runs.map((_, i) => `run ${i + 1}`), 'met in'],
    rows,
  };
}
