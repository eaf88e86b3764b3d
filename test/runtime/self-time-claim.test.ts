/**
 * When titan-perf's own block takes the blame for a stall (SelfTime.claim).
 * Pure bookkeeping over performance.now() times: the real stalls, with their
 * own blocks, are in event-loop-stalls.test.ts and idle-own-time.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { selfTime } from '../../dist/src/runtime/self-time.js';

// One account per process: each case uses times of its own, far from the others'.
describe('SelfTime.claim', () => {
  it("with the stall's end known, an own block ended within it and at least half of it", () => {
    const t = selfTime();
    t.add(10_000, 10_060);
    // A 100 ms stall that ended at 10 061: the 60 ms block is in it.
    expect(t.claim(9_000, 100, 10_061)).toBe(true);
    // Each block explains one stall at most.
    expect(t.claim(9_000, 100, 10_061)).toBe(false);
  });

  it('with the end unknown, only a block of nearly the whole stall; or of half when the stall holds own work', () => {
    const t = selfTime();
    // The first Prometheus scrape seen in CI: 61.8 ms of own work in a 109 ms stall.
    t.add(20_000, 20_061.8);
    expect(t.claim(19_500, 109)).toBe(false);
    // The stall is longer than the app's active time could make it: the own block is part of it.
    expect(t.claim(19_500, 109, undefined, true)).toBe(true);
    t.add(21_000, 21_040);
    // Under half: never the own block's, whatever else is known.
    expect(t.claim(20_500, 109, undefined, true)).toBe(false);
    t.add(22_000, 22_095);
    expect(t.claim(21_500, 109)).toBe(true);
  });

  it('of several blocks that could explain a stall, the longest takes it', () => {
    const t = selfTime();
    // The SDK load's 33 ms package and the first export's 43 ms, then a 61 ms stall holding own work.
    t.add(40_000, 40_033);
    t.add(40_200, 40_243);
    expect(t.claim(39_500, 61, undefined, true)).toBe(true);
    // The 33 ms block is left for a stall of its own.
    expect(t.blocksSince(39_500).map((b) => Boolean(b.claimed))).toEqual([false, true]);
  });

  it('a block that ended before the scan window, or one timed from another thread, takes no blame', () => {
    const t = selfTime();
    t.add(30_000, 30_090);
    expect(t.claim(30_100, 100, undefined, true)).toBe(false);
    t.add(31_000, 31_090, false);
    expect(t.claim(30_500, 100, undefined, true)).toBe(false);
  });
});
