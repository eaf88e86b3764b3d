/**
 * What V8's old generation can hold, and how much of it is used: the figure a
 * heap-usage alarm must compare, because V8 aborts with "heap out of memory"
 * when the old generation cannot grow, not when used_heap_size reaches
 * heap_size_limit.
 *
 * heap_size_limit is the old generation's limit plus the young generation's
 * (three semi-spaces: two for the scavenger, one for new large objects). So
 * `--max-old-space-size=256` reports 304 MiB on Node 22 (16 MiB semi-spaces),
 * 448 MiB on Node 24 (64 MiB) and 352 MiB on Node 26 (32 MiB);
 * `--max-semi-space-size=S` adds 3 x S MiB. The young generation's share is
 * largest for small heaps (43% at 256 MiB on Node 24), where used / heap limit
 * never reaches 0.85 before the crash.
 *
 * The old-generation limit, most exact first: `--max-old-space-size` as in
 * effect (command line over NODE_OPTIONS); heap_size_limit minus three times
 * an explicit `--max-semi-space-size`; else heap_size_limit itself. In that
 * last case (V8's default size, or `--max-old-space-size-percentage`) V8 sizes
 * the young generation from the same memory figure as the old one and it is
 * under 5% of the limit, so the reading errs by under 5% on the low side.
 */
import type { HeapSpaceReading } from './readings';

const MiB = 1024 * 1024;
/** Spaces outside the old generation: the young generation and the read-only snapshot. */
const NOT_OLD = new Set(['new_space', 'new_large_object_space', 'read_only_space']);

export interface OldGenerationLimit {
  bytes: number;
  /** How the limit was found, for status() and docs. */
  source: '--max-old-space-size' | 'heap limit minus 3 x --max-semi-space-size' | 'heap limit';
}

function mibFlag(flags: ReadonlyMap<string, string | true>, name: string): number | undefined {
  const v = flags.get(name);
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export function oldGenerationLimit(heapLimit: number, flags: ReadonlyMap<string, string | true>): OldGenerationLimit {
  const old = mibFlag(flags, '--max-old-space-size');
  // V8 rounds the flag to its page size; never claim more than the whole heap.
  if (old !== undefined) return { bytes: Math.min(heapLimit, Math.floor(old * MiB)), source: '--max-old-space-size' };
  const semi = mibFlag(flags, '--max-semi-space-size');
  if (semi !== undefined && heapLimit > 3 * semi * MiB) {
    return { bytes: heapLimit - 3 * semi * MiB, source: 'heap limit minus 3 x --max-semi-space-size' };
  }
  return { bytes: heapLimit, source: 'heap limit' };
}

/** Bytes used by objects in the old generation's spaces (old, code, large object, trusted...). */
export function oldGenerationUsed(spaces: readonly HeapSpaceReading[]): number {
  let used = 0;
  for (const s of spaces) if (!NOT_OLD.has(s.space)) used += s.used;
  return used;
}
