/**
 * titan-perf's own time on the main thread: loading its telemetry SDK,
 * collecting and exporting, taking readings. Kept so that a stall or a
 * delay percentile that titan-perf caused is reported as its own and never
 * held against the app (a warning, a lower score).
 */

/** Own blocks shorter than this cannot explain a stall worth reporting. */
const KEEP_MS = 1;
const MAX_BLOCKS = 64;

export interface SelfBlock {
  /** performance.now() when the block ended. */
  end: number;
  ms: number;
}

class SelfTime {
  totalMs = 0;
  private blocks: SelfBlock[] = [];

  measure<T>(fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.add(start, performance.now());
    }
  }

  add(start: number, end: number): void {
    const ms = end - start;
    if (!(ms >= 0)) return;
    this.totalMs += ms;
    if (ms < KEEP_MS) return;
    this.blocks.push({ end, ms });
    if (this.blocks.length > MAX_BLOCKS) this.blocks.shift();
  }

  /** The longest own block that ended after `since` (performance.now() time). */
  longestSince(since: number): number {
    let longest = 0;
    for (const b of this.blocks) if (b.end > since && b.ms > longest) longest = b.ms;
    return longest;
  }

  /**
   * Whether titan-perf's own work makes up a stall of `stallMs`. With the
   * stall's end known (`end`, performance.now() time), an own block that
   * ended within the stall and is at least half of it; otherwise one that
   * ended after `since` and is nearly the whole stall. Each block explains
   * one stall at most.
   */
  claim(since: number, stallMs: number, end?: number): boolean {
    const i = this.blocks.findIndex((b) =>
      end !== undefined
        ? b.end >= end - stallMs - 2 && b.end <= end + 2 && b.ms >= stallMs * 0.5
        : b.end > since && b.ms >= stallMs * 0.8 && b.ms <= stallMs * 1.1 + 2,
    );
    if (i < 0) return false;
    this.blocks.splice(i, 1);
    return true;
  }
}

const SLOT = Symbol.for('titan-perf.self-time');
type Slots = { [SLOT]?: SelfTime };

/** One account per process, even with two copies of the package loaded. */
export function selfTime(): SelfTime {
  const g = globalThis as Slots;
  return (g[SLOT] ??= new SelfTime());
}

export type { SelfTime };
