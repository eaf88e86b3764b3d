/**
 * titan-perf never blames an idle app for its own work: loading its
 * telemetry SDK, collecting, serializing and sending an export, answering a
 * scrape. A real idle service runs 60 s with defaults and each exporter
 * (OTLP http/protobuf and gRPC to real receivers every 5 s, Prometheus
 * scraped every second by a real Prometheus), beside a control with export
 * off. The services start 2 s apart so that their SDK loads do not compete
 * for the 2 cores.
 *
 * The goal is zero warnings, and asserted: on a machine quiet enough to
 * judge (the control got no warning that the machine cannot have made, load
 * below the core count), an exporting service gets no warning that the
 * machine cannot have made (see machineMay()) and the score has no finding
 * beyond those. On a busier machine, exporting adds at most one such warning
 * to the control's. Every warning is printed with titan-perf's own blocks
 * and the interval's CPU wait, so a CI log says whose it was.
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

interface Warning {
  metric: string;
  value: number;
  message: string;
  cpuWait?: { minMs: number; maxMs: number };
  own?: unknown[];
  reading?: unknown;
}
interface Stall {
  durationMs: number;
  self: boolean;
  own: { ms: number; endedMsAgo: number }[];
}
type Run = Awaited<ReturnType<typeof idle>>;

/**
 * A warning the machine may have made, not the app's code nor titan-perf's
 * work: a delay p99 whose slowest turns the main thread may have spent half
 * of waiting for a CPU (the warning carries that wait), a stall it may have
 * spent half of waiting, or a stall that titan-perf's own block of at least
 * half of it and that wait together make up. Other test files share the 2
 * cores. The product claims the last kind as titan-perf's own when the stall
 * is longer than the app's active time could make it (seen once in CI before
 * that rule: 109 ms, a 62 ms first Prometheus scrape and up to 32.5 ms of
 * run-queue wait); one it cannot prove that of stays the app's, and is
 * excused here.
 */
function machineMay(run: { stalls: Stall[] }, w: Warning): boolean {
  if (w.metric === 'eventLoop.delay.p99') return w.cpuWait !== undefined;
  if (w.metric !== 'eventLoop.stall') return false;
  const waited = w.cpuWait?.maxMs ?? 0;
  if (waited >= w.value / 2) return true;
  return run.stalls.some(
    (s) =>
      !s.self &&
      Math.abs(s.durationMs - w.value) < 0.2 &&
      s.own.some(
        (b) => b.ms >= s.durationMs / 2 && b.endedMsAgo <= s.durationMs + 1000 && b.ms + waited >= s.durationMs * 0.8,
      ),
  );
}

async function idle(env: Record<string, string>) {
  const r = await runNode(
    ['-r', PRELOAD, fixture('idle-service.cjs')],
    { IDLE_MS: String(IDLE_MS), ...env },
    IDLE_MS + 30_000,
  );
  expect(r.code, `${JSON.stringify(env)} ended ${r.signal ?? r.code}: ${r.stderr}`).toBe(0);
  const lines = jsonLines(r.stdout);
  const warnings = lines.filter((l) => l.warning).map((l) => l.warning as Warning);
  const stalls = lines.filter((l) => l.stall).map((l) => l.stall as Stall);
  const end = lines.find((l) => l.end)?.end as End;
  expect(end, r.stdout).toBeDefined();
  return { warnings, stalls, end, stderr: r.stderr };
}

describe('an idle service with export on', () => {
  it('on a quiet machine gets no warning and no score finding that the machine cannot have made; on a busy one at most one more than export off (OTLP http/protobuf, gRPC, Prometheus; 60 s)', async () => {
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
      const runs = { control, 'otlp http/protobuf': viaHttp, 'otlp grpc': viaGrpc, prometheus: viaProm };
      const unexplained = (run: Run) => run.warnings.filter((w) => !machineMay(run, w));
      const quiet = unexplained(control).length === 0 && !overloaded();
      const load = os.loadavg()[0];
      for (const [name, run] of Object.entries(runs)) {
        const shown = (w: Warning) =>
          `${w.message}${w.own ? ` (titan-perf's own blocks of the 6 s before: ${JSON.stringify(w.own)}; the interval: ${JSON.stringify(w.reading)})` : ''}`;
        console.log(
          `idle ${name}, Node ${process.versions.node} (${run.end.status.mode}): ${run.warnings.length} warnings (${run.warnings.length - unexplained(run).length} the machine's), ${run.stalls.length} stalls (${run.stalls.filter((x) => x.self).length} own), score ${run.end.score}, titan-perf's own time ${run.end.status.selfTimeMs} ms, load ${load.toFixed(1)}${run.warnings.length ? `: ${run.warnings.map(shown).join(' | ')}` : ''}`,
        );
      }
      // The exports really happened: a silent exporter would pass trivially.
      expect(http.received.length).toBeGreaterThanOrEqual(8);
      expect(grpc.received.length).toBeGreaterThanOrEqual(8);
      // The app has exited by now: Prometheus must have scraped it while it ran.
      expect((await prom.query('max_over_time(up{job="app"}[5m])'))[0]?.value[1]).toBe('1');
      for (const run of [viaHttp, viaGrpc, viaProm]) {
        expect(run.end.status.selfTimeMs).toBeGreaterThan(0);
        // Even on a machine too busy to judge, exporting adds at most one warning to the control's.
        expect(unexplained(run).length, JSON.stringify(run.warnings)).toBeLessThanOrEqual(
          unexplained(control).length + 1,
        );
        if (!quiet) continue;
        // Zero: every warning of an exporting service is one the machine may have made.
        expect(unexplained(run), JSON.stringify({ warnings: run.warnings, stalls: run.stalls })).toEqual([]);
        // Such a warning lowers the score while it lasts: if it is still active at the end (it fell in
        // the last interval), the score carries its finding. Nothing else.
        const allowed = [
          ...(run.warnings.some((w) => w.metric === 'eventLoop.delay.p99') ? ['nodejs.eventloop.delay'] : []),
          ...(run.warnings.some((w) => w.metric === 'eventLoop.stall') ? ['nodejs.eventloop.stall'] : []),
        ];
        expect(
          run.end.activeWarnings.every((m) => m === 'eventLoop.delay.p99'),
          run.end.activeWarnings.join(),
        ).toBe(true);
        expect(
          run.end.findings.every((f) => allowed.includes(f)),
          run.end.recommendations.join('\n'),
        ).toBe(true);
        if (run.end.findings.length === 0) expect(run.end.score).toBe(100);
      }
    } finally {
      await Promise.all([http.close(), grpc.close(), prom.stop()]);
    }
  }, 160_000);
});
