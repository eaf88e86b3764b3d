// Summaries of raw samples. The machines are shared and noisy, so every
// comparison is told as medians, their ratio, and the min..max spread; a
// single absolute time is never the result.

export function quantile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank on the sorted samples: p99.9 of 2000 samples is a real
  // observation, not an interpolation between two.
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarize(samples) {
  const finite = samples.filter(Number.isFinite);
  return {
    n: finite.length,
    median: median(finite),
    min: finite.length ? Math.min(...finite) : NaN,
    max: finite.length ? Math.max(...finite) : NaN,
  };
}

/** Latency percentiles of one run's per-request samples. */
export function percentiles(values) {
  return { p50: quantile(values, 0.5), p99: quantile(values, 0.99), p999: quantile(values, 0.999) };
}

export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/** Rounds a number for reports without hiding small values. */
export function round(x, digits = 3) {
  if (!Number.isFinite(x)) return x;
  const magnitude = Math.abs(x);
  const places = magnitude >= 100 ? 1 : magnitude >= 1 ? 2 : digits;
  return Number(x.toFixed(places));
}
