/**
 * The scan boundary (EventLoopProbe.markBoundary): after it, a sample longer
 * than the loop's activity since is left out as Node's wait for I/O, so the
 * boundary must allow for the app's work that its turn's sample will hold but
 * that ran before the mark: immediates queued ahead of titan-perf's. Real
 * per-iteration histogram in this process, real blocks; Node 24.19+ and
 * 26.5+ only (Node 22 samples with a timer and sets no boundary).
 */
import { describe, expect, it } from 'vitest';
import { EventLoopProbe } from '../../dist/src/runtime/event-loop-probe.js';

const turn = () => new Promise((r) => setTimeout(r, 5));
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** A scan in a timer, then an app immediate blocking `blockMs`, then the boundary immediate; the next scan's finds. */
async function afterBoundary(blockMs: number, allowFor: boolean): Promise<number[]> {
  const probe = new EventLoopProbe();
  probe.enable();
  try {
    await turn();
    await new Promise<void>((done) =>
      setTimeout(() => {
        probe.takeStalls(40);
        const scanEnd = performance.now();
        setImmediate(() => busy(blockMs));
        setImmediate(() => {
          probe.takeStalls(40);
          probe.markBoundary(allowFor ? performance.now() - scanEnd : 0);
          done();
        });
      }, 5),
    );
    // The block's sample is recorded at the next turn's check phase.
    await turn();
    await turn();
    return probe.takeStalls(40).map((s) => s.ms);
  } finally {
    probe.disable();
  }
}

describe.skipIf(new EventLoopProbe().mode.mode !== 'per-iteration')('the stall scan boundary', () => {
  it('an app immediate that ran before the boundary is still a stall: the boundary allows for it', async () => {
    const found = await afterBoundary(80, true);
    expect(found).toHaveLength(1);
    expect(found[0]).toBeGreaterThanOrEqual(78);
    // Without the allowance the same block would pass for Node's wait for I/O: what the allowance is for.
    expect(await afterBoundary(80, false)).toEqual([]);
  });
});
