// Runs variants interleaved: round r runs every variant once, alternating
// the order (A B C, C B A, ...) so that neither drift of the machine's load
// nor a fixed position in the round favours one variant.

/**
 * @param {object} o
 * @param {string} o.label progress prefix
 * @param {{id: string}[]} o.variants
 * @param {number} o.rounds
 * @param {(variant: any, round: number) => Promise<Record<string, number>>} o.measure
 *   returns one value per metric for that run
 * @param {(line: string) => void} o.progress
 * @returns {Promise<Record<string, Record<string, number[]>>>} metric -> variant id -> samples
 */
export async function interleave({ label, variants, rounds, measure, progress }) {
  const out = {};
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    const parts = [];
    for (const variant of order) {
      const values = await measure(variant, r);
      for (const [metric, value] of Object.entries(values)) {
        ((out[metric] ??= {})[variant.id] ??= []).push(value);
      }
      const first = Object.entries(values)[0];
      if (first) parts.push(`${variant.id} ${formatValue(first[1])}`);
    }
    progress(`[${label}] round ${r + 1}/${rounds}: ${parts.join(', ')}`);
  }
  return out;
}

function formatValue(v) {
  return Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) : String(v);
}
