// titan-perf's own exporter against OTLP receivers that decode with the
// official proto definitions: http/protobuf, http/json and grpc.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../sidecar/support';
import { startFixture, type FixtureProcess } from './helpers/fixture-process';
import {
  allMetrics,
  latest,
  startOtlpGrpcReceiver,
  startOtlpHttpReceiver,
  type Receiver,
} from './helpers/otlp-receiver';

const running: { app?: FixtureProcess; receiver?: Receiver }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app?.end();
    await r.receiver?.close();
  }
});

const PROTOCOLS = [
  ['http/protobuf', startOtlpHttpReceiver, 'application/x-protobuf'],
  ['http/json', startOtlpHttpReceiver, 'application/json'],
  ['grpc', startOtlpGrpcReceiver, 'application/grpc'],
] as const;

describe('OTLP export of the preload metrics', () => {
  for (const [protocol, start, contentType] of PROTOCOLS) {
    it(`${protocol}: names, units, attributes, values and resource decode with the official protos`, async () => {
      const receiver = await start();
      const app = startFixture(['--require', './with-telemetry.cjs', 'app-plain.cjs'], {
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_SERVICE_NAME: 'pricing',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,team=desk%20one',
        K8S_POD_NAME: 'pricing-7d9f-abcde',
        POD_NAMESPACE: 'trading',
        NODE_NAME: 'node-a',
        TEST_SAMPLE_MS: '200',
      });
      running.push({ app, receiver });
      await app.waitForLine(/^titan-telemetry-mode own$/);
      await app.waitForLine(/^app-ready$/);
      // An export that times out on a loaded machine takes its window with it: block again
      // (at most three times) rather than fail on one lost export.
      const holding = () =>
        allMetrics(receiver)
          .filter((x) => x.name === 'nodejs.eventloop.delay.max')
          .find((x) => (x.points[0].value ?? 0) > 0.1);
      for (let attempt = 1; attempt <= 3 && !holding(); attempt++) {
        app.write('block 150');
        await waitFor('the block', () => app.stdout.filter((l) => l === 'blocked 150').length >= attempt);
        await waitFor('an export holding the 150 ms block', holding, 15_000).catch(() => undefined);
      }
      const max = holding()!;
      expect(max, 'an export holding the 150 ms block').toBeDefined();

      expect(receiver.errors).toEqual([]);
      expect(receiver.received.every((e) => e.contentType.startsWith(contentType))).toBe(true);
      expect(max.unit).toBe('s');
      expect(max.type).toBe('gauge');
      expect(max.scope).toBe('titan-perf');
      expect(max.points[0].value).toBeLessThan(30);
      expect(max.resource).toMatchObject({
        'service.name': 'pricing',
        'deployment.environment.name': 'staging',
        team: 'desk one',
        'k8s.pod.name': 'pricing-7d9f-abcde',
        'k8s.namespace.name': 'trading',
        'k8s.node.name': 'node-a',
        'process.runtime.name': 'nodejs',
      });
      expect(Number(max.resource['process.pid'])).toBe(app.child.pid);

      const time = latest(receiver, 'nodejs.eventloop.time')!;
      expect(time).toMatchObject({ type: 'sum', monotonic: true, unit: 's' });
      expect(time.points.map((p) => p.attributes['nodejs.eventloop.state']).sort()).toEqual(['active', 'idle']);
      const elu = latest(receiver, 'nodejs.eventloop.utilization')!;
      expect(elu.unit).toBe('1');
      expect(elu.points[0].value).toBeGreaterThan(0);
      expect(elu.points[0].value).toBeLessThanOrEqual(1);
      const heap = latest(receiver, 'v8js.memory.heap.used')!;
      expect(heap.unit).toBe('By');
      const old = heap.points.find((p) => p.attributes['v8js.heap.space.name'] === 'old_space')!;
      expect(old.value).toBeGreaterThan(100_000);
      const limit = latest(receiver, 'titan_perf.heap.limit')!.points[0].value!;
      expect(limit).toBeGreaterThan(old.value!);
      const gc = await waitFor('a GC histogram', () => latest(receiver, 'v8js.gc.duration'));
      expect(gc.type).toBe('histogram');
      expect(gc.unit).toBe('s');
      for (const p of gc.points) {
        expect(['major', 'minor', 'incremental', 'weakcb']).toContain(p.attributes['v8js.gc.type']);
        expect(p.count).toBeGreaterThan(0);
        expect(p.bucketCounts!.reduce((a, b) => a + b, 0)).toBe(p.count);
      }
      // The exporter's sockets and timers keep nothing alive: the app exits on its own, normally.
      expect(await app.end()).toBe(0);
      expect(app.stdout).toContain('app-exit');
    });
  }
});
