// The real sidecar daemon (fake procfs for sysctls, a real redis-server)
// exporting over OTLP/HTTP protobuf to a receiver that decodes with the
// official protos: apply results, settings by state, a drift repaired,
// Redis health under the Collector receiver names, a clean SIGTERM.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import {
  collect,
  exited,
  fakeProcRoot,
  readFakeSysctl,
  startCli,
  tempDir,
  waitFor,
  writeFakeSysctl,
  writeJson,
} from '../sidecar/support';
import { latest, startOtlpHttpReceiver, type Receiver } from './helpers/otlp-receiver';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const point = (r: Receiver, name: string, attrs: Record<string, string>) =>
  latest(r, name)?.points.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value;

describe('sidecar metrics', () => {
  it('the daemon reports apply, settings state, a drift repair and Redis health over OTLP', async () => {
    const redis: RedisServer = await startRedis();
    cleanups.push(() => redis.stop());
    const receiver = await startOtlpHttpReceiver();
    cleanups.push(() => receiver.close());
    const root = fakeProcRoot({ 'net.core.somaxconn': '4096' });
    const dir = tempDir('sidecar-metrics');
    const config = writeJson(dir, 'config.json', {
      redis: { enabled: true, host: '127.0.0.1', port: redis.port },
      system: { kernelParams: { netCoreSomaxconn: 65535 } },
    });
    const child = startCli(
      [
        'run',
        '--config',
        config,
        '--state-dir',
        join(dir, 'state'),
        '--proc-root',
        root,
        '--listen',
        '127.0.0.1:0',
        '--interval',
        '300',
      ],
      {
        env: {
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_METRIC_EXPORT_INTERVAL: '500',
          OTEL_SERVICE_NAME: 'titan-perf-sidecar',
        },
      },
    );
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const io = collect(child);
    await waitFor('the initial apply', () => io.out().includes('"initial-apply"'));
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');

    await waitFor(
      'sysctl applied in the metrics',
      () =>
        (point(receiver, 'titan_perf.sidecar.changes', {
          'titan_perf.store': 'sysctl',
          'titan_perf.result': 'applied',
        }) ?? 0) >= 1,
    );
    await waitFor('a settings gauge', () =>
      point(receiver, 'titan_perf.sidecar.settings', {
        'titan_perf.store': 'sysctl',
        'titan_perf.setting.state': 'ok',
      }),
    );
    const used = await waitFor('redis memory', () => point(receiver, 'redis.memory.used', {}));
    expect(used).toBeGreaterThan(100_000);
    expect(latest(receiver, 'redis.memory.used')!.unit).toBe('By');
    expect(latest(receiver, 'redis.keys.evicted')).toMatchObject({ type: 'sum', monotonic: true, unit: '{key}' });
    expect(latest(receiver, 'redis.memory.used')!.resource['service.name']).toBe('titan-perf-sidecar');

    // Someone changes the sysctl behind the daemon's back: the next pass repairs it, and says so.
    writeFakeSysctl(root, 'net.core.somaxconn', '128');
    await waitFor('the repair', () => readFakeSysctl(root, 'net.core.somaxconn') === '65535');
    await waitFor(
      'a drift repair in the metrics',
      () => (point(receiver, 'titan_perf.sidecar.drift.repairs', { 'titan_perf.store': 'sysctl' }) ?? 0) >= 1,
    );

    expect(receiver.errors).toEqual([]);
    child.kill('SIGTERM');
    expect((await exited(child)).code).toBe(0);
    expect(io.err()).toBe('');
  });
});
