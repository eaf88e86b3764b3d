// A real Prometheus scrapes titan-perf's Prometheus endpoints (the preload's
// and the sidecar's Redis health) and answers PromQL; every query of the
// Grafana dashboard in deploy/ is run against it and must only name metrics
// that this real scrape returned.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server';
import { exited, fakeProcRoot, startCli, tempDir, writeFakeSysctl, writeJson } from '../sidecar/support';
import { waitFor } from '../sidecar/support';
import { ROOT, startFixture, type FixtureProcess } from './helpers/fixture-process';
import { startPrometheus, type PrometheusServer } from './helpers/prometheus';

let prom: PrometheusServer;
let preload: FixtureProcess;
let sidecar: ChildProcess;
let redis: RedisServer;
let procRoot: string;

beforeAll(async () => {
  redis = await startRedis();
  const [p1, p2] = [await freePort(), await freePort()];
  // The preload on an app with --no-incremental-marking: a standing heap/GC verdict.
  preload = startFixture(['--no-incremental-marking', '--require', './with-telemetry.cjs', 'app-plain.cjs'], {
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(p1),
    TEST_EXPORT_DELAY: '200',
    TEST_SAMPLE_MS: '250',
  });
  // The real sidecar daemon: sysctls on a fake procfs, a real redis-server.
  procRoot = fakeProcRoot({ 'net.core.somaxconn': '4096' });
  const dir = tempDir('prom-sidecar');
  const config = writeJson(dir, 'config.json', {
    redis: { enabled: true, host: '127.0.0.1', port: redis.port },
    system: { kernelParams: { netCoreSomaxconn: 65535 } },
  });
  sidecar = startCli(
    [
      'run',
      '--config',
      config,
      '--state-dir',
      join(dir, 'state'),
      '--proc-root',
      procRoot,
      '--listen',
      '127.0.0.1:0',
      '--interval',
      '300',
    ],
    {
      env: { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(p2) },
    },
  );
  await preload.waitForLine(/^titan-telemetry-mode own$/);
  prom = await startPrometheus({ preload: `127.0.0.1:${p1}`, sidecar: `127.0.0.1:${p2}` });
  const ready = async () =>
    (await prom.query('nodejs_eventloop_delay_max')).length > 0 && (await prom.query('redis_memory_used')).length > 0;
  const deadline = Date.now() + 60_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error('prometheus never scraped both endpoints');
    await new Promise((r) => setTimeout(r, 500));
  }
}, 120_000);

afterAll(async () => {
  await prom?.stop();
  await preload?.end();
  if (sidecar && sidecar.exitCode === null) {
    sidecar.kill('SIGTERM');
    await exited(sidecar);
  }
  await redis?.stop();
});

async function poll(expr: string, ok: (v: number) => boolean, what: string): Promise<number> {
  const deadline = Date.now() + 45_000;
  let last: number | undefined;
  for (;;) {
    const r = await prom.query(expr);
    if (r.length > 0) {
      last = Number(r[0].value[1]);
      if (ok(last)) return last;
    }
    if (Date.now() > deadline) throw new Error(`${what}: ${expr} gave ${last}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Metric names a PromQL expression selects (labels, ranges, grouping and function names removed). */
function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = e.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (['and', 'or', 'unless', 'bool', 'offset', 'e', 'Inf', 'NaN'].includes(m[0])) continue;
    out.add(m[0]);
  }
  return [...out];
}

describe('a real Prometheus scraping titan-perf', () => {
  it('sees an induced 200 ms event-loop block in the event-loop max', async () => {
    // Only samples scraped after a quiet one count, so a slow start-up cannot pass for the block.
    await poll('nodejs_eventloop_delay_max{job="preload"}', (v) => v < 0.1, 'a quiet event loop');
    const quietAt = Date.now();
    const since = () => `${Math.ceil((Date.now() - quietAt) / 1000) + 1}s`;
    let max = 0;
    // On a loaded machine a scrape can time out and take its sample with it: block again
    // (at most three times) rather than fail on a lost scrape.
    for (let attempt = 1; attempt <= 3 && max < 0.19; attempt++) {
      preload.write('block 200');
      await waitFor('the block', () => preload.stdout.filter((l) => l === 'blocked 200').length >= attempt);
      await waitFor(
        'the 200 ms block in Prometheus',
        async () => {
          const r = await prom.query(`max_over_time(nodejs_eventloop_delay_max{job="preload"}[${since()}])`);
          max = r.length ? Number(r[0].value[1]) : 0;
          return max >= 0.19;
        },
        15_000,
      ).catch(() => undefined);
    }
    expect(max).toBeGreaterThanOrEqual(0.19);
    expect(max).toBeLessThan(30);
    // Units: seconds, as the semantic conventions say, not milliseconds.
    expect(Number((await prom.query('nodejs_eventloop_delay_p50{job="preload"}'))[0].value[1])).toBeLessThan(1);
  });

  it('reads heap against its limit and Redis health under the Collector receiver names', async () => {
    const ratio = await poll(
      'sum(v8js_memory_heap_used{job="preload"}) / sum(titan_perf_heap_limit{job="preload"})',
      (v) => v > 0,
      'heap ratio',
    );
    expect(ratio).toBeLessThan(1);
    const used = await poll('redis_memory_used{job="sidecar"}', (v) => v > 100_000, 'redis memory');
    expect(used).toBeLessThan(1024 ** 3);
    await poll('redis_memory_fragmentation_ratio{job="sidecar"}', (v) => v > 0, 'fragmentation ratio');
    await poll('redis_uptime_total{job="sidecar"}', (v) => v >= 0, 'redis uptime counter');
  });

  it('every dashboard query is valid PromQL and names only metrics this scrape returned', async () => {
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'titan-perf-dashboard.json'), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: { targets?: { expr: string }[] }) =>
      (p.targets ?? []).map((t) => t.expr),
    );
    for (const v of dash.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = /^label_values\((.*),\s*\w+\)$/.exec(q ?? '');
      if (m) exprs.push(m[1]);
    }
    expect(exprs.length).toBeGreaterThan(10);
    // Metrics that appear with events: a GC, outbound fetches, a threshold warning, a drift repair.
    await poll('sum(v8js_gc_duration_count{job="preload"})', (v) => v > 0, 'a GC');
    preload.write('fetch');
    await preload.waitForLine(/^fetched$/);
    preload.write('block 400');
    await preload.waitForLine(/^blocked 400$/);
    // One long block is a stall; a sustained delay (three slow turns in an interval) is an active warning.
    preload.write('burst 60 4');
    await preload.waitForLine(/^burst 60 4$/);
    writeFakeSysctl(procRoot, 'net.core.somaxconn', '128');
    await poll('sum(titan_perf_warnings_total{job="preload"})', (v) => v > 0, 'a warning');
    await poll('count(titan_perf_warning_active{job="preload"})', (v) => v > 0, 'an active warning');
    await poll('sum(http_client_open_connections{job="preload"})', (v) => v > 0, 'fetch connections');
    await poll('sum(titan_perf_sidecar_drift_repairs_total{job="sidecar"})', (v) => v > 0, 'a drift repair');
    await poll('sum(titan_perf_verdicts{job="preload"})', (v) => v > 0, 'a verdict');
    const names = new Set(await prom.names());
    const missing: string[] = [];
    for (const raw of exprs) {
      const expr = raw.replace(/\$\w+/g, '.*');
      await prom.query(expr); // throws on a syntax error
      for (const name of metricNames(expr)) if (!names.has(name)) missing.push(`${name} (in ${raw})`);
    }
    expect(missing).toEqual([]);
  });
});
