/**
 * titan-perf never blames an idle app for its own work: loading its
 * telemetry SDK, collecting, serializing and sending an export, answering a
 * scrape. A real idle service runs 60 s with defaults and each exporter
 * (OTLP http/protobuf and gRPC to real receivers every 5 s, Prometheus
 * scraped every second by a real Prometheus), beside a control with export
 * off. The services start 2 s apart so that their SDK loads do not compete
 * for the 2 cores.
 *
 * The goal is zero warnings. Asserted: exporting adds at most one warning a
 * minute to what the control gets, and on a quiet machine (the control got
 * none, load below the core count) no stall is blamed on the app (unless
 * its main thread may have spent half of it waiting for a CPU, or an own
 * block of half of it and that wait share it: printed, see below) and the
 * score has no finding beyond that tolerated warning. Measured alone on a quiet machine, 12 of 12
 * exporting service runs got no warning (docs/event-loop-stalls.md). The
 * counts are printed.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server';
import { PRELOAD, fixture, jsonLines, runNode } from '../preload/run';
import { startOtlpGrpcReceiver, startOtlpHttpReceiver, type Receiver } from '../telemetry/helpers/otlp-receiver';
import { startPrometheus } from '../telemetry/helpers/prometheus';

const IDLE_MS = Number(process.env.IDLE_TEST_MS ?? 60_000);
const overloaded = () => os.loadavg()[0] > os.cpus().length;

interface End {
  status: { selfTimeMs: number; mode: string };
  activeWarnings: string[];
  score: number;
  recommendations: string[];
  findings: string[];
}

async function idle(env: Record<string, string>) {
  const r = await runNode(
    ['-r', PRELOAD, fixture('idle-service.cjs')],
    { IDLE_MS: String(IDLE_MS), ...env },
    IDLE_MS + 30_000,
  );
  expect(r.code, `${JSON.stringify(env)} ended ${r.signal ?? r.code}: ${r.stderr}`).toBe(0);
  const lines = jsonLines(r.stdout);
  const warnings = lines
    .filter((l) => l.warning)
    .map(
      (l) =>
        l.warning as { metric: string; value: number; message: string; cpuWait?: { maxMs: number }; own?: unknown[] },
    );
  const stalls = lines
    .filter((l) => l.stall)
    .map((l) => l.stall as { durationMs: number; self: boolean; own: { ms: number; endedMsAgo: number }[] });
  const end = lines.find((l) => l.end)?.end as End;
  expect(end, r.stdout).toBeDefined();
  return { warnings, stalls, end, stderr: r.stderr };
}

describe('an idle service with export on', () => {
  it('adds at most one warning a minute to export off; on a quiet machine no stall of its own making and no other score finding (OTLP http/protobuf, gRPC, Prometheus; 60 s)', async () => {
    const http = await startOtlpHttpReceiver();
    const grpc = await startOtlpGrpcReceiver();
    const promPort = await freePort();
    const prom = await startPrometheus({ app: `127.0.0.1:${promPort}` }, 1);
    // Started before the app: its first scrapes fail until the app listens, as in a real rollout.
    const otlp = (receiver: Receiver, protocol: string) => ({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    });
    try {
      const later = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const [control, viaHttp, viaGrpc, viaProm] = await Promise.all([
        idle({ OTEL_METRICS_EXPORTER: 'none' }),
        later(2000).then(() => idle(otlp(http, 'http/protobuf'))),
        later(4000).then(() => idle(otlp(grpc, 'grpc'))),
        later(6000).then(() =>
          idle({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort) }),
        ),
      ]);
      const quiet = control.warnings.length === 0 && !overloaded();
      const load = os.loadavg()[0];
      const runs = { control, 'otlp http/protobuf': viaHttp, 'otlp grpc': viaGrpc, prometheus: viaProm };
      for (const [name, run] of Object.entries(runs)) {
        console.log(
          `idle ${name}, Node ${process.versions.node} (${run.end.status.mode}): ${run.warnings.length} warnings, ${run.stalls.length} stalls (${run.stalls.filter((x) => x.self).length} own), score ${run.end.score}, titan-perf's own time ${run.end.status.selfTimeMs} ms, load ${load.toFixed(1)}${run.warnings.length ? `: ${run.warnings.map((w) => `${w.message}${w.own ? ` (titan-perf's own blocks of the 6 s before: ${JSON.stringify(w.own)})` : ''}`).join(' | ')}` : ''}`,
        );
      }
      // The exports really happened: a silent exporter would pass trivially.
      expect(http.received.length).toBeGreaterThanOrEqual(8);
      expect(grpc.received.length).toBeGreaterThanOrEqual(8);
      // The app has exited by now: Prometheus must have scraped it while it ran.
      expect((await prom.query('max_over_time(up{job="app"}[5m])'))[0]?.value[1]).toBe('1');
      for (const run of [viaHttp, viaGrpc, viaProm]) {
        expect(run.end.status.selfTimeMs).toBeGreaterThan(0);
        expect(run.warnings.length, JSON.stringify(run.warnings)).toBeLessThanOrEqual(control.warnings.length + 1);
        if (quiet) {
          // A stall that the main thread may have spent waiting for a CPU was the machine's (other test
          // files share the 2 cores), not titan-perf's work.
          // Not yet told apart (issue 9, open): titan-perf's own block of at least half the stall, ended in
          // the scan window before it, with a possible CPU wait for the rest. Seen once in CI: 109 ms held a
          // 62 ms own block (the first Prometheus scrape) and up to 32.5 ms of run-queue wait. The product
          // counts it as the app's; claiming it needs a rule that does not also claim a stall of the
          // machine's in which titan-perf's own work was the code stretched (stall-cpu-wait.test.ts).
          const shared = (w: (typeof run.warnings)[number]) =>
            run.stalls.some(
              (s) =>
                !s.self &&
                Math.abs(s.durationMs - w.value) < 0.2 &&
                s.own.some(
                  (b) =>
                    b.ms >= s.durationMs / 2 &&
                    b.endedMsAgo <= s.durationMs + 1000 &&
                    b.ms + (w.cpuWait?.maxMs ?? 0) >= s.durationMs * 0.8,
                ),
            );
          const stalls = run.warnings.filter(
            (w) => w.metric === 'eventLoop.stall' && !((w.cpuWait?.maxMs ?? 0) >= w.value / 2) && !shared(w),
          );
          for (const w of run.warnings.filter((x) => x.metric === 'eventLoop.stall' && shared(x)))
            console.log(`titan-perf's own block and the machine's CPU wait shared this stall: ${w.message}`);
          // Every stall, titan-perf's own included, with the own blocks before it: what the stall was.
          expect(stalls, JSON.stringify(run.stalls)).toEqual([]);
          // The one warning tolerated above lowers the score while it lasts: if it is still active at the
          // end (it fell in the last interval), the score carries its finding. So does a stall of the
          // machine's in the last interval. Nothing else.
          const tolerated = run.end.activeWarnings.length > 0 && run.warnings.length <= control.warnings.length + 1;
          expect(
            run.end.activeWarnings.every((m) => m === 'eventLoop.delay.p99'),
            run.end.activeWarnings.join(),
          ).toBe(true);
          const machineStall = run.warnings.some((w) => w.metric === 'eventLoop.stall' && !stalls.includes(w));
          const allowed = [
            ...(tolerated ? ['nodejs.eventloop.delay'] : []),
            ...(machineStall ? ['nodejs.eventloop.stall'] : []),
          ];
          expect(
            run.end.findings.every((f) => allowed.includes(f)),
            run.end.recommendations.join('\n'),
          ).toBe(true);
          if (run.end.findings.length === 0) expect(run.end.score).toBe(100);
        }
      }
    } finally {
      await Promise.all([http.close(), grpc.close(), prom.stop()]);
    }
  }, 160_000);
});
