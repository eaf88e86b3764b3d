/**
 * A stall the machine caused is not blamed on the app's code. Real
 * contention, no mock: a busy service runs in a CPU cgroup of the test's own
 * and gets a quota of 20 ms a second, as a container with a CPU limit gets
 * throttled once it has used its share; the throttled main thread waits,
 * runnable, on its run queue. Those stalls must say that the main thread
 * waited for a CPU, and a block in the service's own code, run before the
 * quota, must not. Nothing outside the service's own cgroup is limited.
 *
 * The wait comes from /proc/thread-self/schedstat (Linux with schedstats);
 * the cgroup needs root and the cgroup v1 cpu controller or cgroup v2.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRELOAD, fixture } from '../preload/run';
import { startFixture } from '../telemetry/helpers/fixture-process';

const schedstat = (() => {
  try {
    return /^\d+ \d+ \d+/.test(readFileSync('/proc/thread-self/schedstat', 'utf8'));
  } catch {
    return false;
  }
})();

/** A CPU cgroup of the test's own: cgroup v1's cpu controller, or v2 with cpu delegated at the root. */
function cpuCgroup(): { dir: string; limit(quotaUs: number | undefined): void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = `titan-perf-test-${process.pid}`;
  if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) {
    const dir = join('/sys/fs/cgroup/cpu', name);
    return {
      dir,
      limit(quotaUs) {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), '1000000');
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs ?? -1));
      },
    };
  }
  const v2 = '/sys/fs/cgroup/cgroup.subtree_control';
  if (existsSync(v2) && readFileSync(v2, 'utf8').split(/\s+/).includes('cpu')) {
    const dir = join('/sys/fs/cgroup', name);
    return { dir, limit: (quotaUs) => writeFileSync(join(dir, 'cpu.max'), `${quotaUs ?? 'max'} 1000000`) };
  }
  return undefined;
}

interface Stall {
  durationMs: number;
  startedAt: number;
  self: boolean;
  cpuWait?: { minMs: number; maxMs: number };
}

const parsed = (lines: string[], key: string) =>
  lines.filter((l) => l.startsWith(`{"${key}"`)).map((l) => JSON.parse(l)[key]);

const cgroup = cpuCgroup();

describe.skipIf(!cgroup || !schedstat)('a stall while a CPU limit throttles the service', () => {
  it('says the main thread waited for a CPU; a block in the code does not', async () => {
    const cg = cgroup!;
    mkdirSync(cg.dir);
    const app = startFixture(['-r', PRELOAD, fixture('busy-service.cjs')], {
      // One warning per stall: the cooldown would hold back all but the first.
      TITAN_PERF_NODEJS__WARNING_COOLDOWN: '0',
    });
    try {
      await app.waitForLine(/^\{"ready"/);
      // The service's own block, no limit yet.
      app.write('block 300');
      await app.waitForLine(/^\{"stall"/, 10_000);
      const codeStall = parsed(app.stdout, 'stall')[0] as Stall;

      // 20 ms of CPU a second for 4.2 s: each second the service runs 20 ms, then waits for the next period.
      const before = app.stdout.length;
      writeFileSync(join(cg.dir, 'cgroup.procs'), String(app.child.pid));
      cg.limit(20_000);
      await new Promise((r) => setTimeout(r, 4200));
      cg.limit(undefined);
      // The last stall is reported by the next stall scan, within a second.
      await new Promise((r) => setTimeout(r, 1500));
      const stalls = parsed(app.stdout.slice(before), 'stall').filter((s: Stall) => s.durationMs >= 500) as Stall[];
      const warnings = parsed(app.stdout, 'warning').filter((w) => w.metric === 'eventLoop.stall');

      console.log(
        `Node ${process.versions.node}: code block ${codeStall.durationMs} ms, waited ${JSON.stringify(codeStall.cpuWait)}; throttled: ${stalls.map((s) => `${s.durationMs} ms${s.self ? ' (own)' : ''}, waited ${JSON.stringify(s.cpuWait)}`).join('; ')}`,
      );
      expect(stalls.length).toBeGreaterThanOrEqual(3);
      for (const s of stalls) {
        expect(s.self).toBe(false);
        expect(s.cpuWait!.minMs).toBeLessThanOrEqual(s.cpuWait!.maxMs);
        expect(s.cpuWait!.maxMs).toBeLessThanOrEqual(s.durationMs + 0.06); // both rounded (to 0.1 and 0.01)
      }
      // The main thread waits on the run queue for most of them. Not for all: it can also sleep
      // while waiting for its own throttled threads (the GC's helpers), which is not a run-queue wait.
      const waited = stalls.filter((s) => s.cpuWait!.maxMs >= s.durationMs / 2);
      expect(waited.length).toBeGreaterThanOrEqual(stalls.length - 1);
      // A stall that followed another began right after a stall scan: its lower bound is tight.
      const certain = stalls.filter((s) => s.cpuWait!.minMs >= s.durationMs / 2);
      expect(certain.length).toBeGreaterThanOrEqual(1);
      for (const s of stalls) {
        const w = warnings.find((x) => x.since === s.startedAt && x.durationMs === Math.round(s.durationMs * 10) / 10);
        if (certain.includes(s))
          expect(w?.message).toMatch(/waited at least \d+(\.\d)? ms of it for a CPU: .*not the app's code/);
        else if (waited.includes(s)) expect(w?.message).toMatch(/may have waited up to \d+(\.\d)? ms of it for a CPU/);
        else expect(w?.message).not.toMatch(/for a CPU/);
      }

      // The lower bound is sound: a block in the code is never called the machine's.
      expect(codeStall.cpuWait).toBeDefined();
      expect(codeStall.cpuWait!.minMs).toBeLessThan(codeStall.durationMs / 2);
      expect(warnings[0].message).not.toMatch(/not the app's code/);
    } finally {
      cg.limit(undefined);
      await app.end();
      rmdirSync(cg.dir);
    }
  }, 60_000);
});
