/**
 * The zero-install preload (dist/preload-bundle, `npm run build`) in an app
 * that does not depend on titan-perf: the folder and the app are copied to a
 * temporary directory with no node_modules anywhere above them, as in a pod
 * where an init container copied the folder into an emptyDir. The key
 * scenarios of the npm install's own tests run against it: fetch tuned,
 * readings, OTLP export (http/protobuf and grpc, the two halves of the SDK
 * files), Prometheus, one agent shared with an installed package, the
 * --import form, and an old Node that it refuses cleanly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server';
import { waitFor } from '../sidecar/support';
import { allMetrics, startOtlpGrpcReceiver, startOtlpHttpReceiver } from '../telemetry/helpers/otlp-receiver';
import { startServers, type Servers } from './servers';
import { FIXTURES, jsonLines, ROOT, runNode } from './run';
import { cleanEnv } from '../telemetry/helpers/fixture-process';

const BUNDLE = join(ROOT, 'dist', 'preload-bundle');
let place: string;
let preload: string;
let app: string;
let servers: Servers;

beforeAll(async () => {
  if (!existsSync(join(BUNDLE, 'preload.js'))) throw new Error('dist/preload-bundle is missing: run npm run build');
  place = mkdtempSync(join(tmpdir(), 'titan-perf-zero-install-'));
  cpSync(BUNDLE, join(place, 'titan-perf'), { recursive: true });
  preload = join(place, 'titan-perf', 'preload.js');
  app = join(place, 'app');
  cpSync(FIXTURES, app, { recursive: true });
  copyFileSync(join(FIXTURES, 'app-plain.cjs'), join(app, 'app-plain.cjs'));
  // An ESM app that knows nothing of titan-perf but the global slot.
  // getAgent() as an app without the package can write it: the slot is a global Symbol.for key.
  writeFileSync(
    join(app, 'slot.cjs'),
    "exports.getAgent = () => { const v = globalThis[Symbol.for('titan-perf.agent')]; return typeof v === 'object' ? v : undefined; };\n",
  );
  writeFileSync(
    join(app, 'esm-app.mjs'),
    "setImmediate(() => console.log(JSON.stringify({ slot: typeof globalThis[Symbol.for('titan-perf.agent')] })));\n",
  );
  servers = await startServers();
});
afterAll(() => {
  servers?.close();
  if (place) rmSync(place, { recursive: true, force: true });
});

/** app-plain.cjs under the bundle, with quick sampling and export; stdin open until stop(). */
function startPlainApp(env: Record<string, string>) {
  const child = spawn(process.execPath, [join(app, 'app-plain.cjs')], {
    cwd: app,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: cleanEnv({
      NODE_OPTIONS: `--require ${preload}`,
      TITAN_PERF_TELEMETRY__EXPORT_DELAY: '200',
      TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '250',
      ...env,
    }),
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = async () => {
    child.stdin.end();
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  };
  return { child, stderr: () => stderr, stop };
}

describe(`zero-install preload (Node ${process.version})`, () => {
  it('resolves nothing outside its own folder', () => {
    expect(() =>
      execFileSync(process.execPath, ['-e', 'require.resolve("titan-perf")'], { cwd: app, stdio: 'pipe' }),
    ).toThrow();
  });

  it('fetch goes through the tuned Agent, and the agent reports its pool readings', async () => {
    const env = {
      BASE: servers.http.url,
      CLIENT: 'fetch',
      N: '12',
      TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: '2',
    };
    servers.http.resetConnections();
    const r = await runNode(
      [join(app, 'concurrent-clients.cjs')],
      { ...env, NODE_OPTIONS: `--require ${preload}` },
      60_000,
      app,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = jsonLines(r.stdout)[0] as {
      bodies: number;
      pools: { origin: string; connected: number }[];
      tuning: string[];
    };
    expect(out.bodies).toBe(12);
    expect(servers.http.connections()).toBe(2);
    expect(out.tuning).toContain('fetch:tuned');
    expect(out.pools).toEqual([expect.objectContaining({ origin: servers.http.url, connected: 2 })]);
  });

  it('--import: the same file starts the agent in an ESM app', async () => {
    const r = await runNode([join(app, 'esm-app.mjs')], { NODE_OPTIONS: `--import ${preload}` }, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(jsonLines(r.stdout)[0]).toEqual({ slot: 'object' });
  });

  it("an app with titan-perf installed gets the bundle's agent from getAgent(), and the package starts no second one", async () => {
    // The bundle's preload first, then the package's: the package's finds the slot taken and stays out.
    writeFileSync(
      join(app, 'both.cjs'),
      `const pkg = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))});
setImmediate(() => {
  const agent = pkg.getAgent();
  console.log(JSON.stringify({
    same: agent === globalThis[Symbol.for('titan-perf.agent')],
    isRuntimeAgent: agent instanceof pkg.RuntimeAgent,
    tuning: agent.status().tuning.map((t) => t.name),
  }));
});
`,
    );
    const r = await runNode(
      ['--require', preload, '--require', join(ROOT, 'dist', 'preload', 'index.js'), join(app, 'both.cjs')],
      {},
      60_000,
      app,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // The agent is made by the bundle's copy of the class, reached through the package's getAgent(),
    // and is still a RuntimeAgent to the package's `instanceof`.
    expect(jsonLines(r.stdout)[0]).toEqual({
      same: true,
      isRuntimeAgent: true,
      tuning: expect.arrayContaining(['fetch']),
    });
  });

  it('the preload named twice in NODE_OPTIONS (an image that had it, and the pod spec adding it again) starts one agent', async () => {
    const r = await runNode(
      [join(app, 'agent-report.cjs')],
      { NODE_OPTIONS: `--require ${preload} --require ${preload}`, APP_ENTRY: join(app, 'slot.cjs') },
      60_000,
      app,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(jsonLines(r.stdout)[0]).toMatchObject({ agent: true, slot: 'object' });
  });

  for (const [protocol, start] of [
    ['http/protobuf', startOtlpHttpReceiver],
    ['grpc', startOtlpGrpcReceiver],
  ] as const) {
    it(`OTLP ${protocol}: the preload's metrics reach the receiver with the pod's resource attributes`, async () => {
      const receiver = await start();
      const { child, stderr, stop } = startPlainApp({
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_SERVICE_NAME: 'pricing',
        K8S_POD_NAME: 'pricing-7d9f-abcde',
      });
      try {
        const metric = await waitFor(
          'an export with nodejs.eventloop.utilization',
          () => allMetrics(receiver).find((m) => m.name === 'nodejs.eventloop.utilization'),
          45_000,
        );
        expect(receiver.errors).toEqual([]);
        expect(metric.resource).toMatchObject({
          'service.name': 'pricing',
          'k8s.pod.name': 'pricing-7d9f-abcde',
          'process.runtime.name': 'nodejs',
        });
        expect(Number(metric.resource['process.pid'])).toBe(child.pid);
        expect(allMetrics(receiver).map((m) => m.name)).toContain('v8js.memory.heap.used');
        expect(stderr()).toBe('');
      } finally {
        await stop();
        await receiver.close();
      }
    });
  }

  it("Prometheus: the scrape endpoint serves the preload's metrics as Prometheus text", async () => {
    const port = await freePort();
    const { stop } = startPlainApp({
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    });
    try {
      const text = await waitFor(
        'a scrape with nodejs_eventloop_utilization',
        async () => {
          const body = await fetch(`http://127.0.0.1:${port}/metrics`).then(
            (r) => r.text(),
            () => '',
          );
          return /^nodejs_eventloop_utilization(\{[^}]*\})? [0-9.e-]+$/m.test(body) ? body : undefined;
        },
        45_000,
      );
      expect(text).toMatch(/^# TYPE v8js_memory_heap_used gauge$/m);
    } finally {
      await stop();
    }
  });
});

/** The machine's own node, when it is older than the oldest Node the agent runs on (20 here). */
function oldNode(): { bin: string; version: string } | undefined {
  for (const bin of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(bin)) continue;
    const version = execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    if (Number(version.split('.')[0]) < 22) return { bin, version };
  }
  return undefined;
}

const old = oldNode();
describe.skipIf(!old)(`an app on Node ${old?.version ?? '< 22 (none on this machine: skipped)'}`, () => {
  it('loads the bundle, stays inactive with one line saying why, and the app runs unchanged', async () => {
    const run = (nodeOptions?: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(old!.bin, [join(app, 'agent-report.cjs')], {
          cwd: app,
          env: cleanEnv({
            APP_ENTRY: join(app, 'no-titan.cjs'),
            EXIT_CODE: '3',
            ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
          }),
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    writeFileSync(join(app, 'no-titan.cjs'), 'exports.getAgent = () => undefined;\n');
    const [plain, preloaded, imported] = await Promise.all([
      run(),
      run(`--require ${preload}`),
      run(`--import ${preload}`),
    ]);
    for (const r of [preloaded, imported]) {
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(
        `titan-perf: inactive: Node ${old!.version} is older than 22.15, the oldest Node it runs on; the app runs without it.\n`,
      );
      expect(jsonLines(r.stdout)).toEqual(jsonLines(plain.stdout));
      expect(jsonLines(r.stdout)[0]).toMatchObject({ slot: 'undefined' });
    }
  });
});
