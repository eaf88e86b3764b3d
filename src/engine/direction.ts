/**
 * Tuned-style targets: `raise-only` accepts a current value at or above the
 * desired one (never lower a somaxconn someone already raised), `lower-only`
 * the reverse, `exact` only equality. Numbers are compared as BigInt because
 * procfs prints values such as fs.file-max = 9223372036854775807 that a
 * double cannot hold.
 */
import type { Direction } from './types';

const INTS_RE = /^-?\d+(\s+-?\d+)*$/;

/** Whitespace-normalised text (procfs separates tuples with tabs, users with spaces). */
export function normaliseValue(text: string): string {
  return text.trim().split(/\s+/).join('\t');
}

export function meetsDirection(current: string | null, desired: string, direction: Direction): boolean {
  if (current === null) return false;
  const cur = normaliseValue(current);
  const want = normaliseValue(desired);
  if (cur === want) return true;
  if (direction === 'exact' || !INTS_RE.test(cur) || !INTS_RE.test(want)) return false;
  const a = cur.split('\t').map(BigInt);
  const b = want.split('\t').map(BigInt);
  if (a.length !== b.length) return false;
  return a.every((x, i) => (direction === 'raise-only' ? x >= b[i] : x <= b[i]));
}
