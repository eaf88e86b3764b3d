// In-process: titan-perf's instruments on a real SDK MeterProvider, read back
// through a real MetricReader (the pattern of the OTel runtime-node tests).
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { RuntimeAgent, DEFAULT_PERFORMANCE_CONFIG } from '../../dist/src/index.js';
import { ALL_METRICS, OVERFLOW } from '../../dist/src/telemetry/names.js';
import { RuntimeInstruments } from '../../dist/src/telemetry/runtime-instruments.js';
import { SourceState } from '../../dist/src/telemetry/source.js';
import { createSidecarInstruments } from '../../dist/src/telemetry/sidecar-instruments.js';

/** The real runtime agent, sampling every `ms` (no tuning: these tests only read it). */
function createLiveSource(ms: number) {
  const agent = new RuntimeAgent({
    config: { ...DEFAULT_PERFORMANCE_CONFIG.nodejs, sampleInterval: ms, tuneFetch: false, tuneHttpAgents: false },
  });
  agent.start();
  return Object.assign(agent, { close: () => agent.stop() });
}

class CollectingReader extends MetricReader {
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

function metricsOf(rm: ResourceMetrics) {
  const out = new Map<
    string,
    { unit: string; type: DataPointType; points: { attributes: Record<string, unknown>; value: unknown }[] }
  >();
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      out.set(m.descriptor.name, {
        unit: m.descriptor.unit,
        type: m.dataPointType,
        points: m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })),
      });
    }
  }
  return out;
}

function setup() {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  return { reader, provider, meter: provider.getMeter('titan-perf') };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function nextEvents(emitter: EventEmitter, event: string, n = 1): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen >= n) {
        emitter.off(event, on);
        resolve();
      }
    };
    emitter.on(event, on);
  });
}

describe('runtime instruments', () => {
  it('report live readings under the semantic-convention names and units of the catalogue', async () => {
    const { reader, provider, meter } = setup();
    const source = createLiveSource(200);
    const state = new SourceState(source);
    const inst = new RuntimeInstruments(meter, state, { maxOrigins: 5, maxDbPools: 5 });
    cleanups.push(
      () => source.close(),
      () => inst.dispose(),
      () => provider.shutdown(),
    );

    // Block the loop for ~120 ms inside one sampling interval, and churn some garbage for GC entries.
    // (From a timer of its own: monitorEventLoopDelay does not see a block made inside the
    // sampling timer's own callback.)
    await nextEvents(source, 'readings');
    setTimeout(() => {
      const garbage: unknown[] = [];
      for (let i = 0; i < 200_000; i++) garbage.push({ i, s: String(i) });
      garbage.length = 0;
      const until = Date.now() + 120;
      while (Date.now() < until);
    }, 20);
    // On a loaded machine the block may land in a later interval: wait for the reading that holds it.
    for (let i = 0; i < 20 && !((source.getReadings()?.eventLoop.max ?? 0) > 100); i++)
      await nextEvents(source, 'readings');

    const { resourceMetrics } = await reader.collect();
    const got = metricsOf(resourceMetrics);
    for (const name of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) {
      expect(got.get(`nodejs.eventloop.delay.${name}`)?.unit).toBe('s');
    }
    const max = got.get('nodejs.eventloop.delay.max')!.points[0].value as number;
    expect(max).toBeGreaterThan(0.1); // the 120 ms block, in seconds
    expect(max).toBeCloseTo(source.getReadings()!.eventLoop.max / 1000, 9);
    const elu = got.get('nodejs.eventloop.utilization')!.points[0].value as number;
    expect(elu).toBeGreaterThan(0);
    expect(elu).toBeLessThanOrEqual(1);
    const time = got.get('nodejs.eventloop.time')!;
    expect(time.type).toBe(DataPointType.SUM);
    expect(time.points.map((p) => p.attributes['nodejs.eventloop.state']).sort()).toEqual(['active', 'idle']);
    const heapUsed = got.get('v8js.memory.heap.used')!;
    expect(heapUsed.unit).toBe('By');
    expect(heapUsed.points.map((p) => p.attributes['v8js.heap.space.name'])).toContain('old_space');
    expect(got.get('titan_perf.heap.limit')!.points[0].value).toBeGreaterThan(16 * 1024 * 1024);
    expect(got.get('process.memory.usage')!.points[0].value).toBeGreaterThan(0);
    const gc = got.get('v8js.gc.duration')!;
    expect(gc.type).toBe(DataPointType.HISTOGRAM);
    expect(gc.unit).toBe('s');
    expect(gc.points.length).toBeGreaterThan(0);
    for (const p of gc.points)
      expect(['major', 'minor', 'incremental', 'weakcb']).toContain(p.attributes['v8js.gc.type']);

    // Every exported name is in the catalogue with the same unit (docs/metrics.md lists it).
    for (const [name, m] of got) {
      const spec = ALL_METRICS.find((s: { name: string }) => s.name === name);
      expect(spec, name).toBeDefined();
      expect(m.unit, name).toBe(spec.unit);
    }
  });

  it('cap outbound origins and fold the rest into one overflow series', async () => {
    const { reader, provider, meter } = setup();
    const agent = createLiveSource(100);
    // A real reading, with 50 origins of distinct sizes in place of this process's (unused) pool:
    // only 5 series per state may come out.
    const pools = Array.from({ length: 50 }, (_, i) => ({
      origin: `https://svc-${i}.example.test:${8000 + i}`,
      connected: i + 2,
      free: 1,
      pending: 0,
      queued: i % 3,
      running: i + 1,
      size: i + 2,
    }));
    const source = new EventEmitter();
    const state = new SourceState(source as never);
    const inst = new RuntimeInstruments(meter, state, { maxOrigins: 5, maxDbPools: 5 });
    cleanups.push(
      () => agent.close(),
      () => inst.dispose(),
      () => provider.shutdown(),
    );
    source.emit('readings', { ...agent.sample(), pools });

    const got = metricsOf((await reader.collect()).resourceMetrics);
    const open = got.get('http.client.open_connections')!;
    expect(open.unit).toBe('{connection}');
    const active = open.points.filter((p) => p.attributes['http.connection.state'] === 'active');
    expect(active).toHaveLength(5);
    const addresses = active.map((p) => p.attributes['server.address']);
    expect(addresses).toContain(OVERFLOW);
    // The largest origins are the ones kept by name, with parsed address/port/scheme.
    const top = active.find((p) => p.attributes['server.address'] === 'svc-49.example.test')!;
    expect(top.attributes).toMatchObject({ 'server.port': 8049, 'url.scheme': 'https' });
    expect(top.value).toBe(50); // connected 51 - free 1
    // Nothing is lost: the totals over all series equal the totals over all origins.
    const total = active.reduce((a, p) => a + (p.value as number), 0);
    expect(total).toBe(pools.reduce((a, p) => a + p.connected - p.free, 0));
  });

  it('count warnings and keep an active series that returns to 0 on recovery', async () => {
    const { reader, provider, meter } = setup();
    const source = new EventEmitter();
    const state = new SourceState(source as never);
    const inst = new RuntimeInstruments(meter, state, { maxOrigins: 5, maxDbPools: 5 });
    cleanups.push(
      () => inst.dispose(),
      () => provider.shutdown(),
    );
    const w = {
      metric: 'eventLoop.p99',
      value: 25,
      threshold: 10,
      since: Date.now(),
      severity: 'warning',
      message: 'p99 over 10 ms',
    };
    source.emit('performance-warning', w);
    source.emit('performance-warning', { ...w, metric: 'heap.usage', severity: 'critical' });
    let got = metricsOf((await reader.collect()).resourceMetrics);
    expect(got.get('titan_perf.warnings')!.points).toHaveLength(2);
    expect(got.get('titan_perf.warning.active')!.points.every((p) => p.value === 1)).toBe(true);
    source.emit('performance-recovered', w);
    got = metricsOf((await reader.collect()).resourceMetrics);
    const byMetric = Object.fromEntries(
      got.get('titan_perf.warning.active')!.points.map((p) => [p.attributes['titan_perf.warning.metric'], p.value]),
    );
    expect(byMetric).toEqual({ 'eventLoop.p99': 0, 'heap.usage': 1 });
  });

  it('stop observing once disposed, so they can move to another provider', async () => {
    // The SDK keeps exporting a gauge's last value after its callback is gone; what matters
    // is that new readings no longer reach the old provider.
    const { reader, provider, meter } = setup();
    const source = createLiveSource(100);
    const state = new SourceState(source);
    const inst = new RuntimeInstruments(meter, state, { maxOrigins: 5, maxDbPools: 5 });
    cleanups.push(
      () => source.close(),
      () => provider.shutdown(),
    );
    await nextEvents(source, 'readings');
    const read = async () => (await reader.collect()).resourceMetrics;
    const live = async () => metricsOf(await read()).get('nodejs.eventloop.utilization')?.points[0]?.value;
    const first = await live();
    await nextEvents(source, 'readings');
    expect(await live()).not.toBe(first);
    inst.dispose();
    expect(state.hooks).toBeUndefined();
    const frozen = await live();
    await nextEvents(source, 'readings', 2);
    expect(await live()).toBe(frozen);
  });
});

describe('sidecar instruments', () => {
  it('report settings by store and state, Redis health under the receiver names, and recorded results', async () => {
    const { reader, provider, meter } = setup();
    cleanups.push(() => provider.shutdown());
    let plan = [
      { store: 'sysctl', key: 'net.core.somaxconn', current: '4096', desired: '65535', action: 'change' },
      { store: 'sysctl', key: 'vm.swappiness', current: '1', desired: '1', action: 'ok' },
      { store: 'redis', key: 'maxmemory', current: '2147483648', desired: '2147483648', action: 'ok' },
    ];
    const sidecar = createSidecarInstruments(meter, {
      lastPlan: () => plan,
      redisMetrics: () => ({
        'redis.memory.used': 1048576,
        'redis.memory.fragmentation_ratio': 1.25,
        'redis.keys.evicted': 7,
        'redis.uptime': null,
      }),
    });
    sidecar.recordChange('sysctl', 'applied', 2);
    sidecar.recordRollback('ok');
    sidecar.recordLogrotateRun('failed');
    let got = metricsOf((await reader.collect()).resourceMetrics);
    const settings = got.get('titan_perf.sidecar.settings')!.points;
    const find = (store: string, s: string) =>
      settings.find((p) => p.attributes['titan_perf.store'] === store && p.attributes['titan_perf.setting.state'] === s)
        ?.value;
    expect(find('sysctl', 'drift')).toBe(1);
    expect(find('sysctl', 'ok')).toBe(1);
    expect(find('redis', 'ok')).toBe(1);
    expect(got.get('redis.memory.used')).toMatchObject({ unit: 'By', points: [{ value: 1048576 }] });
    expect(got.get('redis.keys.evicted')!.type).toBe(DataPointType.SUM);
    expect(got.has('redis.uptime')).toBe(false); // null readings are left out, not reported as 0
    expect(got.get('titan_perf.sidecar.changes')!.points[0]).toMatchObject({
      value: 2,
      attributes: { 'titan_perf.result': 'applied' },
    });
    expect(got.get('titan_perf.logrotate.runs')!.points[0].attributes['titan_perf.result']).toBe('failed');
    // Drift repaired: the drift series goes to 0 rather than disappearing.
    plan = plan.map((e) => ({ ...e, action: 'ok' }));
    got = metricsOf((await reader.collect()).resourceMetrics);
    expect(
      got.get('titan_perf.sidecar.settings')!.points.find((p) => p.attributes['titan_perf.setting.state'] === 'drift')!
        .value,
    ).toBe(0);
    sidecar.dispose();
  });
});

describe('docs/metrics.md', () => {
  it('lists every metric of the catalogue with its unit', async () => {
    const { readFileSync } = await import('node:fs');
    const section = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    for (const m of ALL_METRICS) expect(section, m.name).toContain(`| \`${m.name}\` |`);
    for (const m of ALL_METRICS)
      expect(section, m.name).toMatch(
        new RegExp(`\\| \`${m.name.replace(/\./g, '\\.')}\` \\| \\w+ \\| \`${m.unit.replace(/[{}]/g, '\\$&')}\` \\|`),
      );
  });
});
