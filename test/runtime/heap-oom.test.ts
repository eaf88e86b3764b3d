/**
 * A leaking app under a small, medium and large old space: the heap.usage
 * warning must come before V8 aborts with "heap out of memory". V8's heap
 * limit also counts the young generation (3 semi-spaces), which is up to 43%
 * of it for a 256 MiB old space, so used / heap limit never got near 0.85;
 * and V8 may abort from 80% of the old generation's limit, so the default
 * threshold sits below that. Slow on a loaded machine (1 to 3 minutes per
 * case at a load average of 25 on 2 cores): filling a heap means many
 * scavenges and mark-compacts, and V8 only aborts after several of them.
 */
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, runNode } from '../preload/run';

describe(`heap warning before the OOM crash (Node ${process.version})`, () => {
  for (const mib of [96, 256, 1024]) {
    it(`--max-old-space-size=${mib}: warns, then the leak crashes`, async () => {
      const r = await runNode(
        [`--max-old-space-size=${mib}`, '--require', PRELOAD, fixture('heap-leak.cjs')],
        { TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '100' },
        590_000,
      );
      // The leak is real: V8 gives up, the process aborts.
      expect(r.stderr, r.stdout.slice(-2000)).toMatch(/heap out of memory/);
      const lines = jsonLines(r.stdout);
      const readings = lines.filter((l) => 'reading' in l);
      expect(readings.length, r.stderr).toBeGreaterThan(3);
      const warnings = lines.filter((l) => l.warning === 'heap.usage');
      const peak = Math.max(...readings.map((l) => l.reading as number));
      expect(warnings.length, `no heap.usage warning; highest reading ${peak}`).toBeGreaterThan(0);
      // The default threshold (0.75) sits below the 0.8 from which V8 may abort. The warning carries
      // the value rounded to 3 decimals: a reading of 0.7503 warns and reads 0.75.
      expect(warnings[0].value as number).toBeGreaterThanOrEqual(0.75);
      expect(warnings[0].value as number).toBeLessThan(0.9);
    }, 600_000);
  }
});
