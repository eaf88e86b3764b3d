// One comparison = one metric over several variants, with raw samples kept.
// The report, the charts and the README quote these objects and nothing else.
import { median, ratio, round, summarize } from './stats.mjs';

// Ratios are compared with targets like 0.99: keep four decimals whatever their size.
const fixed = (x, places) => (Number.isFinite(x) ? Number(x.toFixed(places)) : x);

/**
 * Median of the per-round differences to the baseline: round i of a variant
 * ran right next to round i of the baseline, under the same load, so this
 * is steadier than the difference of the medians when the machine is busy.
 */
function pairedDelta(values, base) {
  if (!base?.length || values === base) return NaN;
  const n = Math.min(values.length, base.length);
  return median(Array.from({ length: n }, (_, i) => values[i] - base[i]).filter(Number.isFinite));
}

/**
 * @param {object} o
 * @param {string} o.id      unique within the part; also the chart's file name
 * @param {string} o.title
 * @param {string} o.unit
 * @param {string|null} o.baseline variant id the ratios are taken against (null: no ratios)
 * @param {boolean} o.lowerIsBetter
 * @param {{id: string, label: string}[]} o.variants  in display order
 * @param {Record<string, number[]>} o.samples  variant id -> raw samples
 * @param {{variant: string, kind: 'delta-max'|'paired-delta-max'|'ratio-min'|'ratio-max'|'value-max'|'max-max'|'min-min', limit: number, text: string}[]} [o.targets]
 */
export function makeComparison({ id, title, unit, baseline, lowerIsBetter, variants, samples, targets = [], note }) {
  const base = summarize(samples[baseline] ?? []);
  const rows = variants
    .filter((v) => samples[v.id]?.length)
    .map((v) => {
      const s = summarize(samples[v.id]);
      return {
        id: v.id,
        label: v.label,
        samples: samples[v.id].map((x) => round(x, 4)),
        median: round(s.median),
        min: round(s.min),
        max: round(s.max),
        n: s.n,
        ratio: fixed(ratio(s.median, base.median), 4),
        delta: round(s.median - base.median),
        pairedDelta: round(pairedDelta(samples[v.id], samples[baseline])),
      };
    });
  const checked = targets.map((t) => {
    const row = rows.find((r) => r.id === t.variant);
    if (!row) return { ...t, measured: null, ok: null };
    const measured = {
      'delta-max': row.delta,
      // For a small effect under a wide spread (a short job: +10 ms on 250-340 ms), the steadier figure.
      'paired-delta-max': row.pairedDelta,
      'ratio-min': row.ratio,
      'ratio-max': row.ratio,
      'value-max': row.median,
      'max-max': row.max,
      'min-min': row.min,
    }[t.kind];
    const ok = t.kind === 'ratio-min' || t.kind === 'min-min' ? measured >= t.limit : measured <= t.limit;
    return { ...t, measured, ok };
  });
  return { id, title, unit, baseline, lowerIsBetter, rows, targets: checked, ...(note ? { note } : {}) };
}
