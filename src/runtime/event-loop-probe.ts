/**
 * Event-loop delay (perf_hooks.monitorEventLoopDelay) and utilization
 * (performance.eventLoopUtilization), both per interval: each read() resets
 * the histogram and diffs utilization against the previous read. Between
 * reads, takeStalls() finds the samples at or above a stall threshold that
 * were not reported yet, without resetting (a reset costs the timer mode a
 * sample, see read()).
 */
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import { CPU_STARVED_SHARE } from './cpu-wait';
import type { EventLoopReading } from './runtime-readings';

const NS_PER_MS = 1e6;
/** The app's slowest turns fetched one by one for their total; past these, each counts as the last one fetched. */
const SLOW_TURNS_FETCHED = 64;
const round1 = (ms: number) => Math.round(ms * 10) / 10;
/** The longest turn that `activeMs` of loop activity can hold, with room for how differently Node measures the two. */
function plausibleBound(activeMs: number): number {
  return activeMs * 1.25 + 5;
}

/** The timed length of titan-perf's own blocks, ms (windows' bounds are not time of its own). */
function timedMs(blocks: readonly OwnBlock[]): number {
  let sum = 0;
  for (const b of blocks) sum += b.ms;
  return sum;
}

/** More stalls than this between two reads are counted, their durations are not. */
const MAX_STALLS_PER_READ = 1000;
/**
 * The delay threshold (nodejs.maxEventLoopDelay) is for sustained delay: the
 * app's p99 counts only when at least this many turns of the interval were
 * that slow. An idle service turns a few dozen times in 5 s, so its p99 is
 * its longest turn: a single 15-25 ms turn (a GC, a page fault, the kernel
 * parking the process on a busy machine) warned every few minutes even with
 * export off. A single long turn is a stall, counted and warned by
 * nodejs.maxEventLoopStall. A busy service (300+ turns per interval) is not
 * affected: its p99 is already at least the third longest turn.
 */
const SUSTAINED_TURNS = 3;

export type EventLoopMode = 'per-iteration' | 'timer';

/**
 * A block of titan-perf's own work: its timed length and, when known, its
 * whole turn's (ms); or, for async work, the active time its untimed turns
 * can have taken (`followUpMs`, each at most `capMs`; `ms` is 0).
 */
export interface OwnBlock {
  ms: number;
  /** performance.now() when it ended (blocks built by hand may leave it out: then it counts as before any boundary). */
  end?: number;
  turnMs?: number;
  followUpMs?: number;
  capMs?: number;
}

export interface EventLoopModeStatus {
  mode: EventLoopMode;
  /** Why this mode runs. */
  reason: string;
  /** How far a stall's measured duration can be off, ms. */
  precisionMs: number;
}

/**
 * `samplePerIteration` arrived in Node 24.19 and 26.5; older Nodes ignore the
 * option without an error and run the timer, so the version decides.
 */
export function perIterationSupported(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  if (major === 24) return minor >= 19;
  if (major === 26) return minor >= 5;
  return major >= 27;
}

export function eventLoopMode(resolutionMs: number, version = process.versions.node): EventLoopModeStatus {
  if (perIterationSupported(version)) {
    return {
      mode: 'per-iteration',
      reason: `Node ${version} samples once per loop turn (monitorEventLoopDelay samplePerIteration): exact turn lengths, no timer waking an idle process`,
      precisionMs: 0.1,
    };
  }
  return {
    mode: 'timer',
    reason: `Node ${version} has no per-iteration sampling (Node 24.19+ and 26.5+ do): a ${resolutionMs} ms timer samples the delay, so a stall is known to within ${resolutionMs / 2} ms`,
    precisionMs: resolutionMs / 2,
  };
}

/**
 * The longest `count` raw samples (ns), longest first, while `keep` holds.
 * HDR percentiles are exact to 3 significant digits: each query aims
 * between two ranks, so that rounding inside HDR lands on the i-th longest,
 * never its neighbour.
 */
function topSamplesNs(h: IntervalHistogram, count: number, keep: (ns: number) => boolean = () => true): number[] {
  const n = h.count;
  const out: number[] = [];
  for (let i = 1; i <= Math.min(n, count, MAX_STALLS_PER_READ); i++) {
    const ns = h.percentile((100 * (n - i + 0.75)) / n);
    if (!keep(ns)) break;
    out.push(ns);
  }
  return out;
}

/** Rank from the top (1 = longest) of the sample that HDR's percentile(99) returns among `count` samples. */
export function p99Rank(count: number): number {
  return count - Math.ceil(0.99 * count) + 1;
}

export interface FoundStall {
  ms: number;
  /**
   * Longer than the loop's active time that titan-perf's own timed work left
   * (over the last two readings, or since the last scan boundary when that
   * is less): the app's code cannot have made it alone. (A stall like that
   * is kept only when an own block of half its length or more can be part of
   * it.)
   */
  holdsOwn: boolean;
}

export interface TurnStatsInput {
  /** Samples in the interval. */
  count: number;
  /** The longest samples, ms, longest first (enough for the p99 and every own block). */
  top: readonly number[];
  rawMax: number;
  rawP99: number;
  own: readonly OwnBlock[];
  /** The loop's active time over the last two intervals, ms. */
  activeMs: number;
  /** titan-perf's own timed work over the same two intervals, ms. */
  ownRecentMs?: number;
  /** How far a sample's length can be off, ms. */
  slackMs: number;
  /**
   * The app's p99 is at least this many turns from the top (default 1): with
   * fewer than 100 turns in an interval the p99 is the longest turn, and one
   * turn is a stall (counted and warned by the stall threshold), not a
   * sustained delay.
   */
  minSlowTurns?: number;
}

/**
 * The max and p99 of the turns that can have happened, and the p99 of the
 * app's turns alone.
 *
 * A sample much longer than the loop's whole active time (`activeMs`) cannot
 * be a turn: Node 24.21 and 26.12 sometimes count the wait for I/O into a
 * per-iteration sample (an idle app reads a turn of several hundred ms).
 * Such samples are left out and counted (`implausible`).
 *
 * For the app's p99, one sample is left out for each block of titan-perf's
 * own work that it matches: a turn at least as long as the block and not
 * much longer than the block's turn. For each own window (`followUpMs`), the
 * longest samples no longer than its longest own turn, as many as its
 * untimed active time holds. Matching by length, not dropping the longest
 * turns, keeps an app's block of another length in the percentile even in
 * an interval where titan-perf also worked. A sample left unmatched must fit
 * in the active time that titan-perf's own timed work left (`ownRecentMs`):
 * one that does not is the wait for I/O again, next to titan-perf's work.
 */
export function turnStats(input: TurnStatsInput): TurnStats {
  const { count, rawMax, rawP99, own, slackMs: slack } = input;
  const bound = plausibleBound(input.activeMs);
  const top = input.top.filter((ms) => ms <= bound);
  const implausible = input.top.length - top.length;
  const plausibleN = count - implausible;
  const at = (list: number[], r: number, fallback: number) => (r <= 0 ? 0 : r <= list.length ? list[r - 1] : fallback);
  const max = implausible ? (top[0] ?? 0) : rawMax;
  const p99 = implausible ? at(top, p99Rank(plausibleN), rawP99) : rawP99;
  let removed = 0;
  const drop = (i: number) => {
    if (i < 0) return;
    top.splice(i, 1);
    removed++;
  };
  for (const block of [...own].filter((b) => b.ms > 0).sort((a, b) => b.ms - a.ms)) {
    const most = Math.max(block.ms, block.turnMs ?? 0) * 1.25 + slack + 2;
    drop(top.findIndex((ms) => ms >= block.ms - slack && ms <= most));
  }
  for (const block of own) {
    if (!block.followUpMs || !block.capMs) continue;
    let budget = block.followUpMs * 1.1 + slack + 2;
    const cap = block.capMs * 1.1 + slack + 1;
    for (let i = 0; i < top.length && budget > 0; ) {
      if (top[i] <= cap && top[i] <= budget) {
        budget -= top[i];
        drop(i);
      } else i++;
    }
  }
  // A turn that is not titan-perf's must fit in the active time titan-perf's own work left.
  const appBound = plausibleBound(input.activeMs - (input.ownRecentMs ?? 0));
  for (let i = top.length - 1; i >= 0; i--) if (top[i] > appBound) drop(i);
  const left = plausibleN - removed;
  const rank = Math.min(Math.max(p99Rank(left), input.minSlowTurns ?? 1), left);
  // Past the end of the list, the samples never fetched: none is longer than the shortest one fetched.
  // (The raw p99 as the fallback gave an idle interval, whose fetched turns were all titan-perf's own,
  // the length of titan-perf's own export turn as the app's p99.)
  const unfetched = input.top.length > 0 ? input.top[input.top.length - 1] : 0;
  const appP99 = removed === 0 && rank === p99Rank(plausibleN) ? p99 : left <= 0 ? 0 : at(top, rank, unfetched);
  const slowest = left <= 0 ? 0 : Math.min(rank, left);
  let appSlowMs = 0;
  for (let i = 0; i < slowest; i++) appSlowMs += top[i] ?? unfetched;
  return { max, p99, appP99, implausible, appSlowTurns: slowest, appSlowMs };
}

export interface TurnStats {
  max: number;
  p99: number;
  appP99: number;
  implausible: number;
  /** How many of the app's turns are at or above its p99 (the p99 is the shortest of them). */
  appSlowTurns: number;
  /** Their total length, ms (a turn past the fetched ones counted as the shortest fetched: never less). */
  appSlowMs: number;
}

export class EventLoopProbe {
  private histogram: IntervalHistogram | undefined;
  private lastElu: EventLoopUtilization | undefined;
  /** The utilization at the read before the last one. */
  private priorElu: EventLoopUtilization | undefined;
  /** Raw samples (ns) already reported by takeStalls() since the last reset. */
  private reported = new Map<number, number>();
  /** Per iteration: the first sample after enable() is still to be checked (correctFirstTurn). */
  private firstTurnPending = false;
  private enabledElu: EventLoopUtilization | undefined;
  /** The first turn's true length (ms) when its sample was replaced, until takeStalls() reports it. */
  private firstTurnMs: number | undefined;
  readonly mode: EventLoopModeStatus;
  /** See markBoundary(). */
  private boundary: { elu: EventLoopUtilization; at: number; allowanceMs: number } | undefined;
  /** Samples left out because they were longer than the loop's active time (see plausibleStats). */
  implausible = 0;

  /** @param resolutionMs sampling period of the delay timer (timer mode); smaller is finer and costs more wake-ups. */
  constructor(private readonly resolutionMs = 10) {
    this.mode = eventLoopMode(resolutionMs);
  }

  enable(): void {
    if (this.histogram) return;
    // Loaded here, not at import: perf_hooks costs ~2 ms of the preload's start-up.
    const { monitorEventLoopDelay, performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    // Native and unref'd in both modes: it never keeps the process alive.
    this.histogram =
      this.mode.mode === 'per-iteration'
        ? monitorEventLoopDelay({ samplePerIteration: true } as Parameters<typeof monitorEventLoopDelay>[0])
        : monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
    this.lastElu = performance.eventLoopUtilization();
    this.enabledElu = this.lastElu;
    this.firstTurnPending = this.mode.mode === 'per-iteration';
  }

  disable(): void {
    this.histogram?.disable();
    this.histogram = undefined;
    this.lastElu = undefined;
    this.priorElu = undefined;
    this.boundary = undefined;
    this.reported.clear();
  }

  /**
   * Starts counting after the main module has run, which is start-up rather
   * than a stall of a serving loop. Per iteration, the first sample spans
   * from enable() to the end of the first turn, the module's load included:
   * enabling right after the module (a nextTick queued by the preload runs
   * then) starts that sample there, so a stall in the app's first timer is
   * still seen whole; a histogram enabled earlier is restarted there. The
   * timer mode records the load as one late sample, dropped at the settle
   * step (forgetStartup).
   */
  restartAfterMain(): void {
    if (this.mode.mode !== 'per-iteration') return;
    const h = this.histogram;
    if (!h) {
      this.enable();
      return;
    }
    h.disable();
    h.reset();
    h.enable();
    this.reported.clear();
    this.firstTurnPending = true;
    this.enabledElu = performance.eventLoopUtilization();
  }

  /**
   * Per iteration, Node's first sample after enable() also counts the time
   * the loop then waited for I/O (an app idle for 1 s reads a 1000 ms turn;
   * Node 24.21 and 26.12), so it is replaced by the turn's active time from
   * performance.eventLoopUtilization(). To be called in the first turn's
   * check phase, where that sample has just been recorded. The replaced turn
   * still counts as a stall when it is one; it is left out of the p99.
   * Returns false when the first sample is not there yet.
   */
  correctFirstTurn(): boolean {
    const h = this.histogram;
    if (!this.firstTurnPending || !h || !this.enabledElu) return true;
    if (h.count === 0) return false;
    this.firstTurnPending = false;
    if (h.count > 1) return true;
    const active = performance.eventLoopUtilization(this.enabledElu).active;
    if (h.max / NS_PER_MS <= active + 1) return true;
    h.reset();
    this.reported.clear();
    this.firstTurnMs = active;
    return true;
  }

  /** Forgets the main module's load in the timer mode (see restartAfterMain). */
  forgetStartup(): void {
    if (this.mode.mode === 'timer') {
      this.histogram?.reset();
      this.reported.clear();
    }
    if (this.lastElu) this.lastElu = performance.eventLoopUtilization();
  }

  get enabled(): boolean {
    return this.histogram !== undefined;
  }

  /**
   * A raw sample as a delay in ms. Per iteration, a sample is the length of
   * one turn. A timer sample is the whole time between two runs of the
   * timer: an idle loop records the resolution itself, and a stall of S ms
   * records between S and S + resolution, depending on where in the period
   * it began.
   */
  private delayMs(ns: number, forStall = false): number {
    if (!Number.isFinite(ns)) return 0;
    const ms = ns / NS_PER_MS;
    if (this.mode.mode === 'per-iteration') return ms;
    return Math.max(0, ms - (forStall ? this.resolutionMs / 2 : this.resolutionMs));
  }

  /**
   * The stalls at or above `thresholdMs` recorded since the last call, longest first.
   * @param ownRecent titan-perf's own blocks since the read before the previous one.
   */
  takeStalls(thresholdMs: number, ownRecent: readonly OwnBlock[] = []): FoundStall[] {
    const first = this.firstTurnMs;
    this.firstTurnMs = undefined;
    const fromFirst = first !== undefined && first >= thresholdMs ? [{ ms: first, holdsOwn: false }] : [];
    const h = this.histogram;
    if (!h || h.count === 0 || this.delayMs(h.max, true) < thresholdMs) return fromFirst;
    // A turn cannot have been busy longer than the loop was (see plausibleStats): since the
    // read before the last one, and since the last boundary (markBoundary) when there is one.
    const since = this.priorElu ?? this.lastElu;
    const active = since ? performance.eventLoopUtilization(since).active : Number.POSITIVE_INFINITY;
    const mark = this.boundary;
    const sinceMark = mark ? performance.eventLoopUtilization(mark.elu).active + mark.allowanceMs : active;
    const bound = plausibleBound(Math.min(active, sinceMark));
    // Longer than what titan-perf's own work left of the active time, and no own block to explain it.
    // Since the boundary, only own blocks that began after it count, for both (none can span it: it is
    // set in a check-phase callback of titan-perf's own).
    const ownMs = timedMs(ownRecent);
    const ownSinceMark = mark ? ownRecent.filter((b) => b.end !== undefined && b.end - b.ms >= mark.at) : ownRecent;
    const useMark = mark !== undefined && sinceMark - timedMs(ownSinceMark) < active - ownMs;
    const appBound = plausibleBound(useMark ? sinceMark - timedMs(ownSinceMark) : active - ownMs);
    const explaining = useMark ? ownSinceMark : ownRecent;
    const implausible = (ms: number) => ms > bound || (ms > appBound && !explaining.some((b) => b.ms >= ms * 0.5));
    const found = topSamplesNs(h, h.count, (ns) => this.delayMs(ns, true) >= thresholdMs);
    const fresh: FoundStall[] = [];
    const seen = new Map(this.reported);
    for (const ns of found) {
      const left = seen.get(ns) ?? 0;
      if (left > 0) seen.set(ns, left - 1);
      else {
        this.reported.set(ns, (this.reported.get(ns) ?? 0) + 1);
        const ms = this.delayMs(ns, true);
        if (implausible(ms)) continue;
        fresh.push({ ms, holdsOwn: ms > appBound });
      }
    }
    return [...fromFirst, ...fresh];
  }

  /**
   * Per iteration: every sample recorded until now has been through
   * takeStalls(), so the ones to come are turns that began after the sample
   * point, at most `allowanceMs` of wall time before this call. None of
   * them can be longer than the loop's activity since then plus that
   * allowance: a longer one is Node counting the wait for I/O into a turn.
   */
  markBoundary(allowanceMs: number): void {
    if (this.mode.mode !== 'per-iteration' || !this.histogram) return;
    const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    this.boundary = {
      elu: performance.eventLoopUtilization(),
      at: performance.now(),
      allowanceMs: Math.max(0, allowanceMs),
    };
  }

  /** The `count` longest samples, ms, longest first (HDR percentiles are exact to 3 significant digits). */
  private top(h: IntervalHistogram, count: number): number[] {
    return topSamplesNs(h, count).map((ns) => this.delayMs(ns));
  }

  /** See turnStats(). */
  private plausibleStats(
    h: IntervalHistogram,
    own: readonly OwnBlock[],
    activeMs: number,
    ownRecentMs: number,
  ): Pick<TurnStats, 'max' | 'p99' | 'appP99' | 'appSlowTurns'> & { appSlowMs: () => number } {
    const n = h.count;
    const rawMax = this.delayMs(h.max);
    const rawP99 = this.delayMs(h.percentile(99));
    if (own.length === 0 && rawMax <= plausibleBound(activeMs) && p99Rank(n) >= SUSTAINED_TURNS) {
      const rank = p99Rank(n);
      // Fetched only when asked: a busy loop's p99 is hundreds of turns from the top.
      const appSlowMs = () => {
        const top = this.top(h, Math.min(rank, SLOW_TURNS_FETCHED));
        let sum = 0;
        for (let i = 0; i < rank; i++) sum += top[i] ?? top[top.length - 1] ?? 0;
        return sum;
      };
      return { max: rawMax, p99: rawP99, appP99: rawP99, appSlowTurns: rank, appSlowMs };
    }
    const stats = turnStats({
      count: n,
      top: this.top(h, own.length + p99Rank(n) + 16),
      rawMax,
      rawP99,
      own,
      activeMs,
      ownRecentMs,
      // The timer mode knows a turn's length to one period only.
      slackMs: this.mode.mode === 'per-iteration' ? 0.5 : this.resolutionMs,
      minSlowTurns: SUSTAINED_TURNS,
    });
    this.implausible += stats.implausible;
    return { ...stats, appSlowMs: () => stats.appSlowMs };
  }

  /**
   * @param own titan-perf's own blocks of work since the previous read.
   * @param ownRecent its own blocks since the read before that (the window the plausibility bound covers).
   */
  read(own: readonly OwnBlock[] = [], ownRecent: readonly OwnBlock[] = own, cpuWaitMs?: number): EventLoopReading {
    const h = this.histogram;
    const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    const now = performance.eventLoopUtilization();
    const delta = this.lastElu ? performance.eventLoopUtilization(now, this.lastElu) : now;
    // A turn that was under way at the previous read (this very read runs inside one) has part of its
    // active time before it: bound the samples by the active time since the read before that one.
    const bound = this.priorElu ? performance.eventLoopUtilization(now, this.priorElu).active : now.active;
    this.priorElu = this.lastElu;
    this.lastElu = now;
    // An empty histogram (no sample yet) reports min as 2^63; show zeros instead.
    const empty = !h || h.count === 0;
    const ms = (ns: number) => (empty ? 0 : this.delayMs(ns));
    const stats = empty || !h ? undefined : this.plausibleStats(h, own, bound, timedMs(ownRecent));
    const reading: EventLoopReading = {
      min: ms(h?.min ?? 0),
      max: stats?.max ?? 0,
      mean: ms(h?.mean ?? 0),
      stddev: empty || !h ? 0 : h.stddev / NS_PER_MS,
      p50: ms(h?.percentile(50) ?? 0),
      p90: ms(h?.percentile(90) ?? 0),
      p99: stats?.p99 ?? 0,
      appP99: stats?.appP99 ?? 0,
      utilization: Number.isFinite(delta.utilization) ? delta.utilization : 0,
      activeTime: now.active / 1000,
      idleTime: now.idle / 1000,
    };
    if (cpuWaitMs !== undefined && cpuWaitMs >= 0) {
      reading.cpuWait = { waitedMs: round1(cpuWaitMs) };
      // Each slow turn is at least the p99 long: a wait under half of that many p99s cannot be half of them.
      if (stats && stats.appP99 > 0 && cpuWaitMs >= stats.appSlowTurns * stats.appP99 * CPU_STARVED_SHARE) {
        reading.cpuWait.slowTurns = stats.appSlowTurns;
        reading.cpuWait.slowTurnsMs = round1(stats.appSlowMs());
      }
    }
    // In timer mode Node drops the first sample after a reset: a stall that
    // starts within one resolution period after this read is lost from the
    // delay (not from the utilization). A JS-timer sampler without that gap
    // costs 2.5x the CPU. Per iteration, nothing is lost.
    h?.reset();
    this.reported.clear();
    return reading;
  }
}
