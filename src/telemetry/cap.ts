/**
 * Bounded attribute cardinality: the largest `max - 1` keys are kept, all
 * others are summed into one `_other` row, so a service calling thousands of
 * origins still exports at most `max` series per instrument.
 */
import { OVERFLOW } from './names';

export function capRows<T extends Record<K, number>, K extends keyof T>(
  rows: readonly T[],
  max: number,
  keyOf: (row: T) => string,
  sizeOf: (row: T) => number,
  numericKeys: readonly K[],
): { key: string; row: T }[] {
  const merged = new Map<string, T>();
  // Rows can already carry the agent's own `_other`; merge duplicates first.
  for (const row of rows) {
    const key = keyOf(row);
    const have = merged.get(key);
    if (!have) merged.set(key, { ...row });
    else for (const k of numericKeys) (have[k] as number) += row[k];
  }
  if (merged.size <= max) return [...merged].map(([key, row]) => ({ key, row }));
  const ranked = [...merged].filter(([key]) => key !== OVERFLOW).sort((a, b) => sizeOf(b[1]) - sizeOf(a[1]));
  const kept = ranked.slice(0, max - 1);
  const rest = ranked.slice(max - 1).map(([, row]) => row);
  const other = merged.get(OVERFLOW);
  if (other) rest.push(other);
  const sum = { ...rest[0] } as T;
  for (const row of rest.slice(1)) for (const k of numericKeys) (sum[k] as number) += row[k];
  return [...kept.map(([key, row]) => ({ key, row })), { key: OVERFLOW, row: sum }];
}
