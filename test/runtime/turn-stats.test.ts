/**
 * How the app's p99 leaves titan-perf's own turns out: by matching each own
 * block to one sample of about its length, never by dropping the longest
 * turns; and how samples that cannot be turns (longer than the loop's whole
 * active time) are left out. Pure arithmetic over sample lists: the real
 * histograms and processes are in event-loop-stalls.test.ts and
 * idle-own-time.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { p99Rank, turnStats } from '../../src/runtime/event-loop-probe';

const base = { rawMax: 0, rawP99: 0, own: [], activeMs: 10_000, slackMs: 0.5 };

describe('turnStats', () => {
  it('with no own work and plausible samples, the raw max and p99 stand', () => {
    const top = [300, 12, 3];
    const s = turnStats({ ...base, count: 50, top, rawMax: 300, rawP99: 300 });
    expect(s).toEqual({ max: 300, p99: 300, appP99: 300, implausible: 0, appSlowTurns: 1, appSlowMs: 300 });
  });

  it("the app's slowest turns, those at or above its p99, are counted and summed with titan-perf's own left out", () => {
    // 400 turns, one of them the own 38 ms export: the app's p99 is the 4th longest of its 399.
    const top = [60, 38.5, 20, 15, 12, 11, 3];
    const s = turnStats({ ...base, count: 400, top, rawMax: 60, rawP99: 12, own: [{ ms: 38, turnMs: 38.4 }] });
    expect(s.appP99).toBe(12);
    expect(s.appSlowTurns).toBe(4);
    expect(s.appSlowMs).toBeCloseTo(60 + 20 + 15 + 12);
    // Idle: fewer than 300 turns, so the p99 is at least the 3rd longest of the app's.
    const idle = turnStats({ ...base, count: 40, top: [14, 12, 11, 2], rawMax: 14, rawP99: 14, minSlowTurns: 3 });
    expect(idle).toMatchObject({ appP99: 11, appSlowTurns: 3, appSlowMs: 37 });
  });

  it("titan-perf's 40 ms export is left out, the app's 300 ms block in the same interval is not", () => {
    const top = [300, 41, 2, 1];
    const s = turnStats({ ...base, count: 40, top, rawMax: 300, rawP99: 300, own: [{ ms: 38, turnMs: 40.5 }] });
    expect(s.appP99).toBe(300);
  });

  it("an idle interval whose longest turns are all titan-perf's own gets the app's longest turn", () => {
    const top = [57, 29, 26, 3.1, 2];
    const own = [{ ms: 50.7, turnMs: 56.8 }, { ms: 29.5 }, { ms: 26.4 }];
    const s = turnStats({ ...base, count: 5, top, rawMax: 57, rawP99: 57, own });
    expect(s.appP99).toBe(3.1);
  });

  it('an own block matches only a turn at least as long as it and not much longer than its turn', () => {
    // 9 ms of own work cannot explain a 30 ms turn: that one stays the app's.
    const s = turnStats({ ...base, count: 3, top: [30, 2, 1], rawMax: 30, rawP99: 30, own: [{ ms: 9, turnMs: 10 }] });
    expect(s.appP99).toBe(30);
  });

  it("an own window's untimed active time removes only turns no longer than its longest own turn", () => {
    const top = [120, 13.5, 4.1, 2];
    const own = [{ ms: 0, followUpMs: 16, capMs: 30 }];
    const s = turnStats({ ...base, count: 4, top, rawMax: 120, rawP99: 120, own });
    // 13.5, 4.1 and 2 fit the window's 16 ms (with its 10% slack); the 120 ms turn is longer than any own turn of the window.
    expect(s.appP99).toBe(120);
    const idle = turnStats({ ...base, count: 4, top: [13.5, 4.1, 2, 1.5], rawMax: 13.5, rawP99: 13.5, own });
    expect(idle.appP99).toBe(1.5);
  });

  it('a sample longer than the whole active time is not a turn: left out of max, p99 and stalls, and counted', () => {
    const s = turnStats({ ...base, count: 6, top: [778, 9, 3, 2, 1, 1], rawMax: 778, rawP99: 778, activeMs: 40 });
    expect(s).toMatchObject({ max: 9, p99: 9, appP99: 9, implausible: 1 });
  });

  it("an unmatched sample longer than the active time titan-perf's own work left is the I/O wait, not a turn", () => {
    // 110 ms of own SDK loading (matched to its turns) and 10 ms of anything else: a 109 ms sample cannot be the app's.
    const own = [{ ms: 25 }, { ms: 24 }, { ms: 18.5 }, { ms: 18 }, { ms: 24.5 }];
    const top = [109, 25.2, 24.6, 24.1, 18.6, 18.2, 4.8, 1.9];
    const s = turnStats({ ...base, count: 12, top, rawMax: 109, rawP99: 109, own, activeMs: 120, ownRecentMs: 110 });
    expect(s.appP99).toBe(4.8);
    // The same sample with the app busy for 150 ms in the window is a turn of the app's.
    const busy = turnStats({ ...base, count: 12, top, rawMax: 109, rawP99: 109, own, activeMs: 260, ownRecentMs: 110 });
    expect(busy.appP99).toBe(109);
  });

  it('with minSlowTurns, one or two slow turns of an idle interval are not a sustained delay', () => {
    // An idle service: 40 turns, one 23 ms turn (a GC). Its p99 is that turn; the app's p99 is the third longest.
    const idle = turnStats({ ...base, count: 40, top: [23, 1.2, 0.9, 0.5], rawMax: 23, rawP99: 23, minSlowTurns: 3 });
    expect(idle).toMatchObject({ max: 23, p99: 23, appP99: 0.9, implausible: 0 });
    // Three slow turns in the interval are sustained.
    const three = turnStats({ ...base, count: 40, top: [300, 300, 299, 1], rawMax: 300, rawP99: 300, minSlowTurns: 3 });
    expect(three.appP99).toBe(299);
    // Fewer turns than that: the shortest of them.
    const two = turnStats({ ...base, count: 2, top: [23, 1.5], rawMax: 23, rawP99: 23, minSlowTurns: 3 });
    expect(two.appP99).toBe(1.5);
    // A busy interval's p99 is already deeper than three turns from the top: unchanged.
    const top = [50, 40, 30, 20, 12, 11, 10, 9, 8, 7, 6, 5];
    const busy = turnStats({ ...base, count: 1000, top, rawMax: 50, rawP99: 6, minSlowTurns: 3 });
    expect(busy.appP99).toBe(6);
    // Own work left out first, then the rank: the app's two 30 ms turns next to a 40 ms export are not sustained.
    const own = [{ ms: 38, turnMs: 40.5 }];
    const withOwn = turnStats({
      ...base,
      count: 30,
      top: [41, 30, 30, 2, 1],
      rawMax: 41,
      rawP99: 41,
      own,
      minSlowTurns: 3,
    });
    expect(withOwn.appP99).toBe(2);
  });

  it('when own work accounts for every sample fetched, the rest of the interval is no longer than the shortest of them', () => {
    // Seen in an idle service with OTLP gRPC: 49 turns, the 20 longest fetched; the export (26.5 ms) and the
    // window after it account for all 20. The other 29 turns are at most 0.05 ms, not the raw p99 of 27.5 ms.
    const top = [
      27.5, 13.3, 7.96, 7.78, 2.74, 2.17, 1.79, 1.67, 1.66, 1.64, 1.51, 1.49, 1.49, 1.41, 1, 0.75, 0.57, 0.31, 0.18,
      0.05,
    ];
    const own = [{ ms: 7.29 }, { ms: 26.53, turnMs: 26.68 }, { ms: 0, followUpMs: 57, capMs: 26.68 }];
    const input = { ...base, count: 49, top, rawMax: 27.5, rawP99: 27.5, own, activeMs: 277.7, ownRecentMs: 202.9 };
    expect(turnStats(input).appP99).toBe(0.05);
    expect(turnStats({ ...input, minSlowTurns: 3 }).appP99).toBe(0.05);
  });

  it('p99Rank matches HDR (the value with 99% of samples at or below it): the longest of fewer than 100 samples, the second of 100', () => {
    expect([1, 50, 100, 101, 200, 1000].map(p99Rank)).toEqual([1, 1, 2, 2, 3, 11]);
  });
});
