// A collector that is down, failing or slow, and bad exporter settings:
// nothing reaches the app, memory stays bounded, and titan-perf says so in at
// most one line per export interval.
import { afterEach, describe, expect, it } from 'vitest';
import { parseExportEnv } from '../../dist/src/telemetry/export-env.js';
import { resourceAttributes } from '../../dist/src/telemetry/resource-attributes.js';
import { freePort } from '../helpers/redis-server';
import { waitFor } from '../sidecar/support';
import { startFixture, type FixtureProcess } from './helpers/fixture-process';
import { startOtlpHttpReceiver, type Receiver } from './helpers/otlp-receiver';

const running: { app?: FixtureProcess; receiver?: Receiver }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app?.end();
    await r.receiver?.close();
  }
});

const INTERVAL = 400;
const titanLines = (app: FixtureProcess) => app.stderr.filter((l) => l.startsWith('titan-perf:'));

async function heapAfterGc(app: FixtureProcess): Promise<number> {
  const before = app.stdout.length;
  app.write('mem');
  const line = await waitFor('a mem line', () => app.stdout.slice(before).find((l) => l.startsWith('mem ')));
  return Number(/heapUsed=(\d+)/.exec(line)![1]);
}

async function runAgainst(endpoint: string, receiver?: Receiver) {
  const app = startFixture(['--expose-gc', '--require', './with-telemetry.cjs', 'app-plain.cjs'], {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_METRIC_EXPORT_INTERVAL: String(INTERVAL),
    OTEL_EXPORTER_OTLP_TIMEOUT: '300',
    TEST_EXPORT_DELAY: '200',
    TEST_SAMPLE_MS: '100',
  });
  running.push({ app, receiver });
  await app.waitForLine(/^titan-telemetry-mode own$/);
  return app;
}

describe('collector failures', () => {
  const cases: [string, () => Promise<{ url: string; receiver?: Receiver }>][] = [
    // A port that was free a moment ago: nobody listens there.
    ['unreachable', async () => ({ url: `http://127.0.0.1:${await freePort()}` })],
    [
      'answering 503',
      async () => {
        const r = await startOtlpHttpReceiver({ status: 503 });
        return { url: r.url, receiver: r };
      },
    ],
    [
      'too slow to answer',
      async () => {
        const r = await startOtlpHttpReceiver({ delayMs: 20_000 });
        return { url: r.url, receiver: r };
      },
    ],
  ];
  for (const [what, make] of cases) {
    it(`${what}: the app runs on, heap stays bounded, at most one line per interval`, async () => {
      const { url, receiver } = await make();
      const started = Date.now();
      const app = await runAgainst(url, receiver);
      await waitFor('the first failure line', () => titanLines(app).length >= 1);
      const heapEarly = await heapAfterGc(app);
      // Many intervals of failing exports.
      await new Promise((r) => setTimeout(r, 12 * INTERVAL));
      const heapLate = await heapAfterGc(app);
      const elapsed = Date.now() - started;
      const lines = titanLines(app);
      expect(lines.length).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL) + 1);
      for (const l of lines)
        expect(l).toMatch(
          /^titan-perf: metrics export to http:\/\/127\.0\.0\.1:\d+\/v1\/metrics \(http\/protobuf\) failed: .*the app is not affected/,
        );
      // Retries and queued exports are bounded: no steady growth (generous: 8 MiB on a ~10 MiB heap).
      expect(heapLate - heapEarly).toBeLessThan(8 * 1024 * 1024);
      // The app's own work went on, and it exits normally: nothing keeps it alive.
      expect(await app.end()).toBe(0);
      expect(app.stdout).toContain('app-exit');
      expect(app.stderr.filter((l) => !l.startsWith('titan-perf:'))).toEqual([]);
    });
  }
});

describe('exporter settings', () => {
  it('defaults: no exporter of its own, http/protobuf, 60 s, Prometheus on loopback 9464', () => {
    const { plan, warnings } = parseExportEnv({});
    expect(warnings).toEqual([]);
    expect(plan).toMatchObject({
      exporters: [],
      protocol: 'http/protobuf',
      intervalMs: 60_000,
      timeoutMs: 30_000,
      prometheus: { host: '127.0.0.1', port: 9464 },
    });
  });

  it('reads the standard variables', () => {
    const { plan, warnings } = parseExportEnv({
      OTEL_METRICS_EXPORTER: 'otlp, prometheus',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317',
      OTEL_METRIC_EXPORT_INTERVAL: '15000',
      OTEL_METRIC_EXPORT_TIMEOUT: '20000',
      OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0',
      OTEL_EXPORTER_PROMETHEUS_PORT: '9100',
    });
    expect(warnings).toEqual([]);
    expect(plan).toMatchObject({
      exporters: ['otlp', 'prometheus'],
      protocol: 'grpc',
      intervalMs: 15000,
      timeoutMs: 15000,
      endpoint: 'http://collector:4317/',
      prometheus: { host: '0.0.0.0', port: 9100 },
    });
    expect(
      parseExportEnv({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }).plan.endpoint,
    ).toBe('http://c:4318/v1/metrics');
    expect(parseExportEnv({ OTEL_METRICS_EXPORTER: 'otlp,none' }).plan.exporters).toEqual([]);
    expect(parseExportEnv({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).plan.exporters).toEqual([]);
  });

  it.each([
    [
      { OTEL_METRICS_EXPORTER: 'otlpp' },
      /^OTEL_METRICS_EXPORTER="otlpp" is not valid \(expected a comma-separated list of otlp, prometheus, console, none\)/,
    ],
    [
      { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http' },
      /^OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http" is not valid \(expected http\/protobuf, http\/json, grpc\)/,
    ],
    [
      { OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '5s' },
      /^OTEL_METRIC_EXPORT_INTERVAL="5s" is not valid/,
    ],
    [
      { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '70000' },
      /^OTEL_EXPORTER_PROMETHEUS_PORT="70000" is not valid \(expected a port number from 1 to 65535\)/,
    ],
  ])('a bad value (%j) turns export off with one warning naming the variable', (env, re) => {
    const { plan, warnings } = parseExportEnv(env);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(re);
    expect(warnings[0]).toMatch(/titan-perf's metrics export is off$/);
    expect(plan.exporters).toEqual([]);
  });

  it('never prints endpoint or header values, which may hold credentials', () => {
    const { warnings } = parseExportEnv({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'collector.internal:4318?token=s3cret',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization Bearer s3cret',
    });
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).not.toMatch(/s3cret/);
    expect(warnings[0]).toMatch(
      /^OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is not valid \(expected an http:\/\/ or https:\/\/ URL\)/,
    );
    expect(warnings[1]).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS is not valid/);
    const ok = parseExportEnv({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@c.example:4318',
    });
    expect(ok.plan.endpoint).not.toMatch(/pw/);
  });

  it('a bad value in a real process: one warning on stderr, no export, the app unaffected', async () => {
    const receiver = await startOtlpHttpReceiver();
    const app = startFixture(['--require', './with-telemetry.cjs', 'app-plain.cjs'], {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      TEST_EXPORT_DELAY: '200',
    });
    running.push({ app, receiver });
    await app.waitForLine(/^app-ready$/);
    await waitFor('the warning', () => app.stderr.length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(app.stderr).toEqual([
      `titan-perf: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="protobuf" is not valid (expected http/protobuf, http/json, grpc); titan-perf's metrics export is off`,
    ]);
    expect(receiver.received).toEqual([]);
    expect(app.stdout).not.toContain('titan-telemetry-mode own');
  });

  it('resource: service name, OTEL_RESOURCE_ATTRIBUTES and Kubernetes downward-API variables, in that precedence', () => {
    const attrs = resourceAttributes({
      OTEL_SERVICE_NAME: 'quotes',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,k8s.pod.name=from-otel,bad,x=%E2%9C%93',
      K8S_POD_NAME: 'from-downward-api',
      K8S_NAMESPACE_NAME: 'trading',
      NODE_NAME: 'node-7',
      K8S_POD_UID: '1234-abcd',
      K8S_CONTAINER_NAME: 'app',
    });
    expect(attrs).toMatchObject({
      'service.name': 'quotes',
      'k8s.pod.name': 'from-otel',
      'k8s.namespace.name': 'trading',
      'k8s.node.name': 'node-7',
      'k8s.pod.uid': '1234-abcd',
      'k8s.container.name': 'app',
      x: '✓',
      'process.runtime.name': 'nodejs',
    });
    expect(attrs).not.toHaveProperty('bad');
  });
});
