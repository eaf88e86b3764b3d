/** The GC probe keeps every entry of a batch, not only the first; the preload observes GC only once its readings are used. */
import { describe, expect, it } from 'vitest';
import { PRELOAD, fixture, jsonLines, runNode } from '../preload/run';

describe(`GC probe (Node ${process.version})`, () => {
  it('three forced full GCs in one block give three major pauses (plus the scavenges of the churn)', async () => {
    const r = await runNode(['--expose-gc', fixture('gc-batch.cjs')]);
    expect(r.code, r.stderr).toBe(0);
    const out = jsonLines(r.stdout)[0] as {
      pauses: number;
      kinds: Record<string, number>;
      share: number;
      durationsPositive: boolean;
    };
    expect(out.kinds.major).toBeGreaterThanOrEqual(3);
    expect(out.kinds.minor).toBeGreaterThanOrEqual(1);
    expect(out.pauses).toBe(Object.values(out.kinds).reduce((a, b) => a + b, 0));
    expect(out.share).toBeGreaterThan(0);
    expect(out.share).toBeLessThanOrEqual(1);
    expect(out.durationsPositive).toBe(true);
  });

  it('the preload observes GC only once its readings are used (a readings listener here)', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('gc-on-demand.cjs')], { OTEL_METRICS_EXPORTER: 'none' });
    expect(r.code, r.stderr).toBe(0);
    const out = jsonLines(r.stdout)[0] as { before: number; after: number; share: number };
    expect(out.before).toBe(0);
    expect(out.after).toBeGreaterThanOrEqual(1);
    expect(out.share).toBeGreaterThan(0);
  });
});
