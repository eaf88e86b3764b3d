/**
 * The app's own agent, observed from inside the app: readings each interval,
 * a blocked event loop raises `performance-warning` for the delay p99 and a
 * matching `performance-recovered` once the loop is free; heap verdicts
 * against a cgroup memory limit (a fixture tree: this machine's
 * /sys/fs/cgroup has no memory controller at its root).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, runNode } from './run';

describe(`the agent in a running app (Node ${process.version})`, () => {
  it('three 300 ms busy waits in a row raise a delay warning, then a recovery', async () => {
    const r = await runNode(['--require', PRELOAD, fixture('blocked-loop.cjs')], {
      // Long enough for the three blocks (900 ms, from 50 ms after a reading) to fall in one interval:
      // the delay threshold counts only when at least three turns of an interval were that slow.
      TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '2000',
      // Far above what a loaded shared machine shows idle (tens of ms), far below the 300 ms stall.
      TITAN_PERF_NODEJS__MAX_EVENT_LOOP_DELAY: '150',
      // Cooldown behaviour has its own unit test; here every breach must be visible.
      TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
    });
    expect(r.code, r.stderr).toBe(0);
    const events = jsonLines(r.stdout) as Record<string, unknown>[];
    expect(
      events.find((e) => e.event === 'done'),
      r.stdout,
    ).toEqual({ event: 'done', why: 'recovered' });
    const blocking = events.find((e) => e.event === 'blocking') as { at: number };
    // The stall's breach: a loaded machine may add noise breaches, so pick the one that covers the stall.
    const delayWarnings = events.filter((e) => e.event === 'warning' && e.metric === 'eventLoop.delay.p99') as Record<
      string,
      number | string
    >[];
    const warning = delayWarnings.find((w) => (w.value as number) > 250) as Record<string, number | string>;
    expect(warning, r.stdout).toBeDefined();
    expect(warning).toMatchObject({ threshold: 150, severity: 'warning' });
    expect(warning.since as number).toBeLessThanOrEqual(blocking.at + 50);
    expect(String(warning.message)).toContain('event-loop delay p99');
    const recovered = events.find(
      (e) => e.event === 'recovered' && e.metric === 'eventLoop.delay.p99' && e.since === warning.since,
    ) as Record<string, number | string>;
    expect(recovered, r.stdout).toMatchObject({ threshold: 150, severity: 'info' });
    expect(recovered.value as number).toBeLessThanOrEqual(150);
    expect(recovered.recoveredAt as number).toBeGreaterThan(blocking.at);
    // Announced once, right after the main module ran (or at the first tick, if that came first), before any reading.
    expect(events[0]).toEqual({
      event: 'nodejs-optimized',
      tuning: ['fetch:armed', 'http.globalAgent:armed', 'https.globalAgent:armed'],
    });
    expect(events.filter((e) => e.event === 'nodejs-optimized')).toHaveLength(1);
    // At recovery the delay warning is no longer active.
    const metrics = events.find((e) => e.event === 'metrics') as {
      hasReadings: boolean;
      active: string[];
      verdicts: number;
    };
    expect(metrics.hasReadings).toBe(true);
    expect(metrics.active).not.toContain('eventLoop.delay.p99');
    expect(metrics.verdicts).toBeGreaterThan(0);
    const readings = events.filter((e) => e.event === 'readings') as Record<string, number>[];
    expect(readings.length).toBeGreaterThanOrEqual(2);
    for (const reading of readings) {
      expect(reading.heapLimit).toBeGreaterThan(reading.heapUsed);
      expect(reading.utilization).toBeGreaterThanOrEqual(0);
      expect(reading.utilization).toBeLessThanOrEqual(1);
    }
  });

  it('cgroup v2 limit below the heap: a critical verdict whose fix changes the command line that set the heap', async () => {
    const root = mkdtempSync(join(tmpdir(), 'titan-perf-cgroup-'));
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    writeFileSync(join(root, 'memory.max'), `${256 * 1024 * 1024}\n`);
    const r = await runNode(['--require', PRELOAD, '--max-old-space-size=512', fixture('agent-report.cjs')], {
      TITAN_PERF_CGROUP_ROOT: root,
      NODE_OPTIONS: '--no-deprecation',
    });
    expect(r.code, r.stderr).toBe(0);
    const status = (
      jsonLines(r.stdout)[0] as {
        status: { memory: Record<string, unknown>; verdicts: { id: string; severity: string; fix?: string }[] };
      }
    ).status;
    expect(status.memory).toMatchObject({
      limitBytes: 256 * 1024 * 1024,
      source: 'cgroup v2',
      file: join(root, 'memory.max'),
    });
    const critical = status.verdicts.find((v) => v.id === 'heap-above-memory-limit');
    expect(critical?.severity).toBe('critical');
    const hasPercentage = process.allowedNodeEnvironmentFlags.has('--max-old-space-size-percentage');
    // --max-old-space-size=512 is on the command line, where NODE_OPTIONS cannot override it.
    expect(critical?.fix).toContain(
      `replace --max-old-space-size=512 with ${hasPercentage ? '--max-old-space-size-percentage=75' : '--max-old-space-size=192'}`,
    );
    expect(critical?.fix).not.toContain('NODE_OPTIONS=');
    // nodejs.maxOldSpaceSize is at its default, which nobody chose: information only.
    expect(status.verdicts.map((v) => v.id)).not.toContain('configured-heap-above-memory-limit');
    expect(status.verdicts.find((v) => v.id === 'configured-heap-not-in-effect')?.severity).toBe('info');
  });

  it('missing cgroup files: host memory is the limit, and status says why', async () => {
    const root = mkdtempSync(join(tmpdir(), 'titan-perf-cgroup-empty-'));
    mkdirSync(join(root, 'memory'));
    const r = await runNode(['--require', PRELOAD, fixture('agent-report.cjs')], { TITAN_PERF_CGROUP_ROOT: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const status = (
      jsonLines(r.stdout)[0] as { status: { memory: { source: string; notes: string[] }; verdicts: { id: string }[] } }
    ).status;
    expect(status.memory.source).toBe('host');
    expect(status.memory.notes.join(' ')).toContain('memory.limit_in_bytes');
    expect(status.verdicts.map((v) => v.id)).toContain('memory-limit-unknown');
  });
});
