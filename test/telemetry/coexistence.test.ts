// The app's own OpenTelemetry SDK and titan-perf in one process: the app
// registers and exports exactly as without titan-perf, titan-perf's metrics
// reach the collector through exactly one pipeline. Both orders, CJS and
// ESM, a late SDK (hand-over), and an app with no OpenTelemetry at all.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../sidecar/support';
import { startFixture, type FixtureProcess } from './helpers/fixture-process';
import { startOtlpHttpReceiver, type Receiver, type ReceivedExport } from './helpers/otlp-receiver';

const running: { app?: FixtureProcess; receiver?: Receiver }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app?.end();
    await r.receiver?.close();
  }
});

const scopes = (e: ReceivedExport) => new Set(e.metrics.map((m) => m.scope));
const services = (e: ReceivedExport) => new Set(e.metrics.map((m) => String(m.resource['service.name'])));
const titan = (e: ReceivedExport) => scopes(e).has('titan-perf');

async function run(args: string[], extraEnv: Record<string, string> = {}) {
  const receiver = await startOtlpHttpReceiver();
  const app = startFixture(args, {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    TEST_EXPORT_DELAY: '500',
    TEST_SAMPLE_MS: '200',
    ...extraEnv,
  });
  running.push({ app, receiver });
  return { app, receiver };
}

/** What an app's own pipeline exported: its scope's metric names, units and attributes. */
function appView(receiver: Receiver) {
  const seen = new Map<string, string>();
  for (const e of receiver.received) {
    for (const m of e.metrics) {
      if (m.scope === 'titan-perf') continue;
      seen.set(m.name, `${m.scope} ${m.unit} ${m.type} ${JSON.stringify(m.points.map((p) => p.attributes))}`);
    }
  }
  return Object.fromEntries(seen);
}

/**
 * No diag error or warning, above all no "duplicate registration". An export of the
 * app's own that times out on this loaded machine is the app's exporter meeting a
 * busy collector, not titan-perf: it is the one message let through.
 */
function expectNoDiag(app: FixtureProcess) {
  const diag = app.stderr.filter((l) => l.includes('OTEL-DIAG') || /duplicate/i.test(l));
  expect(
    diag.filter((l) => !/^OTEL-DIAG error PeriodicExportingMetricReader: metrics export timed out/.test(l)),
  ).toEqual([]);
}

/** Every export carrying titan-perf's metrics came through the app's pipeline, with the app's own metrics beside them. */
async function expectThroughAppPipeline(receiver: Receiver, service: string) {
  const withTitan = await waitFor('two exports with titan-perf metrics', () => {
    const hits = receiver.received.filter(titan);
    return hits.length >= 2 && hits;
  });
  for (const e of receiver.received) expect([...services(e)]).toEqual([service]);
  for (const e of withTitan) expect(scopes(e).has('app')).toBe(true);
  const names = new Set(withTitan.flatMap((e) => e.metrics.map((m) => m.name)));
  expect(names).toContain('nodejs.eventloop.delay.max');
  expect(names).toContain('app.requests');
}

describe('coexistence with the app’s own OpenTelemetry SDK', () => {
  it('CJS app starting NodeSDK after the preload: registers, exports unchanged, titan-perf rides its pipeline', async () => {
    const baseline = await run(['app-sdk.cjs']);
    await baseline.app.waitForLine(/^app-sdk-started global=MeterProvider$/);
    await waitFor('baseline exports', () => baseline.receiver.received.length >= 2);

    const { app, receiver } = await run(['--require', './with-telemetry.cjs', 'app-sdk.cjs']);
    await app.waitForLine(/^app-sdk-started global=MeterProvider$/);
    await app.waitForLine(/^titan-telemetry-mode app$/);
    await expectThroughAppPipeline(receiver, 'app-under-test');
    expectNoDiag(app);
    // The app's own metrics: same names, units, types and attributes as without titan-perf.
    expect(appView(receiver)).toEqual(appView(baseline.receiver));
    const requests = receiver.received
      .flatMap((e) => e.metrics)
      .filter((m) => m.name === 'app.requests')
      .at(-1)!;
    expect(requests.points[0].value).toBeGreaterThan(0);
    expect(app.stdout).not.toContain('titan-telemetry-mode own');
  });

  it('CJS app whose SDK is set up in a --require before the preload', async () => {
    const { app, receiver } = await run([
      '--require',
      './otel-setup.cjs',
      '--require',
      './with-telemetry.cjs',
      'app-plain.cjs',
    ]);
    await app.waitForLine(/^app-sdk-started registered=true$/);
    await app.waitForLine(/^titan-telemetry-mode app$/);
    await expectThroughAppPipeline(receiver, 'early-sdk-app');
    expectNoDiag(app);
  });

  it('ESM app registering its MeterProvider after the preload', async () => {
    const { app, receiver } = await run(['--require', './with-telemetry.cjs', 'app-sdk.mjs']);
    await app.waitForLine(/^app-sdk-started registered=true$/);
    await app.waitForLine(/^titan-telemetry-mode app$/);
    await expectThroughAppPipeline(receiver, 'esm-app-under-test');
    expectNoDiag(app);
  });

  it('ESM app importing its SDK before the preload (--import order)', async () => {
    const { app, receiver } = await run([
      '--import',
      './app-sdk.mjs',
      '--import',
      './with-telemetry.mjs',
      'app-plain.cjs',
    ]);
    await app.waitForLine(/^app-sdk-started registered=true$/);
    await app.waitForLine(/^titan-telemetry-mode app$/);
    await expectThroughAppPipeline(receiver, 'esm-app-under-test');
    expectNoDiag(app);
  });

  it('an SDK started after titan-perf’s own exporter: handed over, never exported twice', async () => {
    const { app, receiver } = await run(['--require', './with-telemetry.cjs', 'app-sdk.cjs'], {
      TEST_SDK_DELAY: '3000',
      TEST_EXPORT_DELAY: '300',
    });
    await app.waitForLine(/^titan-telemetry-mode own$/);
    await waitFor('an export by titan-perf’s own pipeline', () =>
      receiver.received.some((e) => titan(e) && !services(e).has('app-under-test')),
    );
    await app.waitForLine(/^app-sdk-started global=MeterProvider$/);
    await app.waitForLine(/^titan-telemetry-mode app$/);
    const firstViaApp = await waitFor('titan-perf metrics through the app', () =>
      receiver.received.find((e) => titan(e) && services(e).has('app-under-test')),
    );
    await waitFor(
      'more app exports',
      () => receiver.received.filter((e) => services(e).has('app-under-test')).length >= 4,
    );
    expectNoDiag(app);
    // After the hand-over only the app's pipeline carries titan-perf's metrics.
    const ownAfter = receiver.received.filter((e) => e.at > firstViaApp.at && !services(e).has('app-under-test'));
    expect(ownAfter).toEqual([]);
    // And it was a hand-over, not a restart: the own pipeline's last export came before the first one through the app.
    const ownExports = receiver.received.filter((e) => titan(e) && !services(e).has('app-under-test'));
    expect(ownExports.length).toBeGreaterThan(0);
    expect(Math.max(...ownExports.map((e) => e.at))).toBeLessThanOrEqual(firstViaApp.at);
  });

  it('an app with no OpenTelemetry: titan-perf’s own pipeline, and with no exporter set, no SDK loaded at all', async () => {
    const own = await run(['--require', './with-telemetry.cjs', 'app-plain.cjs']);
    await own.app.waitForLine(/^titan-telemetry-mode own$/);
    await waitFor('own exports', () => own.receiver.received.filter(titan).length >= 2);
    expect(own.receiver.received.every((e) => [...scopes(e)].every((s) => s === 'titan-perf'))).toBe(true);

    const quiet = await run(['--require', './with-telemetry.cjs', 'app-plain.cjs'], { OTEL_METRICS_EXPORTER: '' });
    await quiet.app.waitForLine(/^titan-telemetry-mode waiting$/);
    await quiet.app.waitForLine(/^app-ready$/);
    // Well past exportDelay: still waiting, and nothing of the SDK was required.
    await new Promise((r) => setTimeout(r, 1500));
    quiet.app.write('modules');
    const line = await quiet.app.waitForLine(/^otel-modules /);
    // Not even the API: the global registry is looked at without it.
    expect(line).toBe('otel-modules (none)');
    expect(quiet.app.stdout).not.toContain('titan-telemetry-mode own');
    expect(quiet.receiver.received).toEqual([]);
    expect(quiet.app.stderr).toEqual([]);
  });
});
