/**
 * titan-perf's own time on the main thread: loading its telemetry SDK,
 * collecting and exporting, taking readings. Kept so that a stall or a
 * delay percentile that titan-perf caused is reported as its own and never
 * held against the app (a warning, a lower score).
 */

/** Own blocks shorter than this cannot explain a stall worth reporting. */
const KEEP_MS = 1;
const MAX_BLOCKS = 64;
/** How long after async own work settles its window stays open (GC and lazy compiling it set off). */
const WINDOW_TAIL_MS = 100;

export interface SelfBlock {
  /** performance.now() when the block ended. */
  end: number;
  ms: number;
  /** Already taken as the cause of one stall, or never to be (see add()). */
  claimed?: boolean;
  /**
   * measureTurn(): the whole loop turn the work ran in, ms, when it ended in
   * the same turn's check phase. The I/O that an export sets off (connect,
   * the collector's answer on loopback) can run in that turn's poll phase,
   * titan-perf's work too but not timed by `ms`.
   */
  turnMs?: number;
  /**
   * The end of an own window (closeWindow()): how much active time its
   * untimed turns can have taken, ms, each turn at most `capMs`; `ms` is 0.
   */
  followUpMs?: number;
  capMs?: number;
}

interface OpenWindow {
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  /** turnTotalMs when the window opened. */
  turnTotal: number;
  /** performance.now() when the window opened. */
  since: number;
}

class SelfTime {
  totalMs = 0;
  /** Like totalMs, with each measureTurn() block counted for its whole turn. */
  private turnTotalMs = 0;
  /** window() calls under way. */
  private windows = 0;
  private blocks: SelfBlock[] = [];
  /** A measureTurn() is open: work inside it is already counted, once. */
  private turnOpen = false;
  /** A measure() is under way: nested ones are inside its time. */
  private measuring = false;

  /** Times the synchronous work of `fn`. */
  measure<T>(fn: () => T): T {
    if (this.turnOpen || this.measuring) return fn();
    const start = performance.now();
    this.measuring = true;
    try {
      return fn();
    } finally {
      this.measuring = false;
      this.add(start, performance.now());
    }
  }

  /**
   * Times `fn` and the promise continuations it sets off in the same turn
   * (collecting metrics, serializing and sending an export are async chains
   * that run their bulk in microtasks after `fn` returns). The end is a
   * nextTick queued from the first microtask after `fn`: Node runs it only
   * once the microtask queue has drained, continuations queued later
   * included. Own work nested inside is not counted twice. When `fn` returns
   * a promise, the turns until it settles are an own window (see window()).
   * Call it from a timer, I/O or promise callback, not from an immediate: the
   * turn's length comes from an immediate, which would then run one turn later.
   */
  measureTurn<T>(fn: () => T): T {
    if (this.turnOpen || this.measuring) return fn();
    const start = performance.now();
    const idle = performance.eventLoopUtilization().idle;
    // Inside a window() its own window would count the same untimed turns twice.
    const open = this.windows > 0 ? undefined : this.openWindow();
    let block: SelfBlock | undefined;
    // Kept ref'd: an unref'd immediate lets this turn's poll phase wait for I/O first. It runs
    // in this turn's check phase, so it never holds the process beyond the turn.
    setImmediate(() => {
      // Cumulative idle time grows only while the loop waits for I/O: unchanged here means the same turn.
      if (block && performance.eventLoopUtilization().idle === idle) this.setTurn(block, performance.now() - start);
    });
    this.turnOpen = true;
    let result: T | undefined;
    try {
      result = fn();
      return result;
    } finally {
      queueMicrotask(() =>
        process.nextTick(() => {
          this.turnOpen = false;
          block = this.add(start, performance.now());
        }),
      );
      if (open && result && typeof (result as { then?: unknown }).then === 'function') {
        const settled = () => this.closeWindow(open);
        (result as unknown as PromiseLike<unknown>).then(settled, settled);
      }
    }
  }

  /**
   * Runs async own work (loading the SDK step by step) as an own window: see
   * closeWindow().
   */
  async window<T>(fn: () => Promise<T>): Promise<T> {
    const open = this.openWindow();
    this.windows++;
    try {
      return await fn();
    } finally {
      this.windows--;
      this.closeWindow(open);
    }
  }

  private openWindow(): OpenWindow {
    return { elu: performance.eventLoopUtilization(), turnTotal: this.turnTotalMs, since: performance.now() };
  }

  /**
   * Async own work also runs in turns nobody times: the collector's answer,
   * the garbage collection and lazy compiling its first run sets off. A
   * little after the work settled (WINDOW_TAIL_MS), the loop's active time
   * in the window less the own turns timed in it is what those turns can
   * have taken; it is kept as a follow-up block that the app's p99 may use
   * to leave out turns no longer than the longest timed own turn of the
   * window. In a busy app that time also holds app turns, so a follow-up is
   * never counted as titan-perf's time, only as a bound.
   */
  private closeWindow(open: OpenWindow): void {
    setTimeout(() => {
      const timed = this.turnTotalMs - open.turnTotal;
      const rest = performance.eventLoopUtilization(open.elu).active - timed;
      let cap = 0;
      for (const b of this.blocks) if (b.end > open.since && b.ms > 0) cap = Math.max(cap, b.ms, b.turnMs ?? 0);
      if (rest < KEEP_MS || cap === 0) return;
      this.push({ end: performance.now(), ms: 0, followUpMs: rest, capMs: cap });
    }, WINDOW_TAIL_MS).unref();
  }

  private setTurn(block: SelfBlock, turnMs: number): void {
    if (turnMs > block.ms) this.turnTotalMs += turnMs - block.ms;
    block.turnMs = turnMs;
  }

  private push(block: SelfBlock): void {
    this.blocks.push(block);
    if (this.blocks.length > MAX_BLOCKS) this.blocks.shift();
  }

  /**
   * Records an own block. `claims: false` for a block timed from another
   * thread (the watchdog's `Debugger.enable`): its window can also hold the
   * app's work that ran before the main thread served it, so it counts as
   * own time and in the p99 matching but never takes the blame for a stall.
   */
  add(start: number, end: number, claims = true): SelfBlock | undefined {
    const ms = end - start;
    if (!(ms >= 0)) return undefined;
    this.totalMs += ms;
    this.turnTotalMs += ms;
    if (ms < KEEP_MS) return undefined;
    const block: SelfBlock = { end, ms, claimed: claims ? undefined : true };
    this.push(block);
    return block;
  }

  /** The longest own block that ended after `since` (performance.now() time). */
  longestSince(since: number): number {
    let longest = 0;
    for (const b of this.blocks) if (b.end > since && b.ms > longest) longest = b.ms;
    return longest;
  }

  /** The own blocks that ended after `since` (performance.now() time). */
  blocksSince(since: number): SelfBlock[] {
    return this.blocks.filter((b) => b.end > since);
  }

  /**
   * Whether titan-perf's own work makes up a stall of `stallMs`. With the
   * stall's end known (`end`, performance.now() time), an own block that
   * ended within the stall and is at least half of it. Otherwise one that
   * ended after `since` and is nearly the whole stall, or at least half of
   * it when the stall is known to hold own work (`holdsOwn`: longer than the
   * app's active time could make it). Each block explains one stall at most:
   * of several that could, the longest, which leaves the shorter ones for
   * stalls of their own.
   */
  claim(since: number, stallMs: number, end?: number, holdsOwn = false): boolean {
    const fits = (b: SelfBlock) =>
      b.claimed
        ? false
        : end !== undefined
          ? b.end >= end - stallMs - 2 && b.end <= end + 2 && b.ms >= stallMs * 0.5
          : b.end > since && b.ms >= stallMs * (holdsOwn ? 0.5 : 0.8) && b.ms <= stallMs * 1.1 + 2;
    let i = -1;
    for (let j = 0; j < this.blocks.length; j++)
      if (fits(this.blocks[j]) && (i < 0 || this.blocks[j].ms > this.blocks[i].ms)) i = j;
    if (i < 0) return false;
    this.blocks[i].claimed = true;
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
