/** Threshold events over a sequence of readings: one warning per breach and cooldown, a matching recovery, per metric. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PERFORMANCE_CONFIG } from '../../dist/src/index.js';
import { ThresholdMonitor } from '../../dist/src/runtime/thresholds.js';
import type { PerformanceWarning, Readings } from '../../dist/src/index.js';

function reading(at: number, p99: number, utilization = 0.1, heapUsed = 100): Readings {
  return {
    at,
    intervalMs: 1000,
    eventLoop: { min: 0, max: p99, mean: 0, stddev: 0, p50: 0, p90: 0, p99, utilization, activeTime: 0, idleTime: 0 },
    gc: { pauses: [], pauseShare: 0 },
    heap: { used: heapUsed, total: 200, limit: 1000, spaces: [], rss: 0, external: 0 },
    pools: [],
    dbPools: [],
  };
}

function monitor(cooldown: number) {
  const events: (PerformanceWarning & { type: string; recoveredAt?: number })[] = [];
  const m = new ThresholdMonitor(
    { ...DEFAULT_PERFORMANCE_CONFIG.nodejs, warningCooldown: cooldown },
    (w) => events.push({ type: 'warning', ...w }),
    (r) => events.push({ type: 'recovered', ...r }),
  );
  return { m, events };
}

describe('thresholds', () => {
  it('a breach warns once with metric, value, threshold and since; its end recovers', () => {
    const { m, events } = monitor(60_000);
    m.check(reading(10_000, 2));
    m.check(reading(11_000, 25));
    m.check(reading(12_000, 40));
    expect(m.active()).toHaveLength(1);
    m.check(reading(13_000, 3));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'warning',
        metric: 'eventLoop.delay.p99',
        value: 25,
        threshold: 10,
        since: 10_000,
        severity: 'warning',
      }),
      expect.objectContaining({
        type: 'recovered',
        metric: 'eventLoop.delay.p99',
        value: 3,
        threshold: 10,
        since: 10_000,
        recoveredAt: 13_000,
      }),
    ]);
    expect(m.active()).toEqual([]);
  });

  it('a lasting breach repeats after the cooldown with the same since; far over is critical', () => {
    const { m, events } = monitor(2_000);
    for (let t = 1_000; t <= 5_000; t += 1_000) m.check(reading(t, 150));
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings.map((w) => w.since)).toEqual([0, 0, 0]);
    expect(warnings.map((w) => w.severity)).toEqual(['critical', 'critical', 'critical']);
  });

  it('a flapping metric is rate-limited too, and a breach that did not warn does not recover', () => {
    const { m, events } = monitor(10_000);
    m.check(reading(1_000, 20));
    m.check(reading(2_000, 1));
    m.check(reading(3_000, 20));
    m.check(reading(4_000, 1));
    expect(events.map((e) => e.type)).toEqual(['warning', 'recovered']);
  });

  it('a delay p99 whose slowest turns the main thread may have spent half of waiting for a CPU says so, with the bounds', () => {
    const { m, events } = monitor(0);
    const starved = reading(1_000, 14);
    // 3 slow turns of 42 ms in all, and 30 ms of wait for a CPU in the 1 s interval.
    starved.eventLoop.cpuWait = { waitedMs: 30, slowTurns: 3, slowTurnsMs: 42 };
    m.check(starved);
    // 15 ms of wait is under half of the 42 ms: the code's delay, said as before.
    const busy = reading(2_000, 14);
    busy.eventLoop.cpuWait = { waitedMs: 15, slowTurns: 3, slowTurnsMs: 42 };
    m.check(busy);
    const [first, second] = events.filter((e) => e.type === 'warning');
    expect(first.cpuWait).toEqual({ minMs: 0, maxMs: 30 });
    expect(first.message).toMatch(/may have waited up to 30 ms of its 3 slowest turns' 42 ms for a CPU/);
    expect(second.cpuWait).toBeUndefined();
    expect(second.message).not.toMatch(/CPU/);
  });

  it('utilization and heap usage each have their own threshold', () => {
    const { m, events } = monitor(60_000);
    m.check(reading(1_000, 0, 0.95, 900));
    expect(events.map((e) => [e.metric, e.threshold])).toEqual([
      ['eventLoop.utilization', 0.9],
      ['heap.usage', 0.75],
    ]);
  });
});
