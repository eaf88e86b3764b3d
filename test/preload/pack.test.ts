/**
 * The published shape: `npm pack` of this repo (the dist the suite built),
 * installed from the tarball into a fresh app outside the repo, then run with
 * `--require titan-perf/preload` and `--import titan-perf/preload`, reaching
 * the agent through `require('titan-perf')` and an ESM named import. The
 * optional peer dependencies are really absent there, so this is also where
 * a missing one is shown to cost one clear line and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, ROOT, runNode } from './run';

let app: string;
let packDir: string;

beforeAll(() => {
  const out = mkdtempSync(join(tmpdir(), 'titan-perf-pack-'));
  packDir = out;
  // --ignore-scripts: dist is what the suite just built; `prepare` would rebuild it under other engineers' feet.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: ROOT, stdio: 'ignore' });
  const tgz = readdirSync(out).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack produced no tarball in ${out}`);
  app = mkdtempSync(join(tmpdir(), 'titan-perf-app-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(out, tgz)], {
    cwd: app,
    stdio: 'ignore',
    timeout: 280_000,
  });
  writeFileSync(
    join(app, 'app.cjs'),
    `const { getAgent } = require('titan-perf');
     setImmediate(() => { const a = getAgent(); console.log(JSON.stringify({ live: Boolean(a), tuning: a && a.status().tuning.map((t) => t.name + ':' + t.state) })); });`,
  );
  writeFileSync(
    join(app, 'app.mjs'),
    `import { getAgent, DEFAULT_PERFORMANCE_CONFIG } from 'titan-perf';
     await fetch('http://127.0.0.1:1/').catch(() => {});
     console.log(JSON.stringify({ live: Boolean(getAgent()), fetch: getAgent()?.status().tuning[0].state, defaults: DEFAULT_PERFORMANCE_CONFIG.nodejs.maxEventLoopDelay }));`,
  );
  writeFileSync(
    join(app, 'pool.cjs'),
    `const { PerformanceOptimizer } = require('titan-perf');
     const o = new PerformanceOptimizer();
     try { o.createDatabaseConnectionPool('db', () => ({}), () => {}); console.log(JSON.stringify({ created: true })); }
     catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
     o.close();`,
  );
  // Runs until titan-perf has written to stderr (its own pipeline is built after the export delay),
  // then a little longer to catch a second line; bounded for a machine too loaded to get there.
  writeFileSync(
    join(app, 'linger.cjs'),
    `const write = process.stderr.write.bind(process.stderr);
     const finish = () => console.log(JSON.stringify({ done: true }));
     const cap = setTimeout(finish, 30000);
     process.stderr.write = (chunk, ...rest) => {
       if (String(chunk).startsWith('titan-perf:')) { clearTimeout(cap); setTimeout(finish, 500); }
       return write(chunk, ...rest);
     };`,
  );
}, 300_000);

const OPTIONAL = [
  '@opentelemetry/exporter-metrics-otlp-grpc',
  '@opentelemetry/exporter-prometheus',
  'ioredis',
  'generic-pool',
];

afterAll(() => {
  // The installed app holds a full node_modules; do not leave one per run in /tmp.
  for (const d of [app, packDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe(`the packed package in a fresh app (Node ${process.version})`, () => {
  it('--require titan-perf/preload with require("titan-perf").getAgent()', async () => {
    const r = await runNode(['--require', 'titan-perf/preload', 'app.cjs'], {}, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(jsonLines(r.stdout)[0]).toEqual({
      live: true,
      tuning: ['fetch:armed', 'http.globalAgent:armed', 'https.globalAgent:armed'],
    });
  });

  it('--import titan-perf/preload with an ESM named import', async () => {
    const r = await runNode(['--import', 'titan-perf/preload', 'app.mjs'], {}, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)[0]).toEqual({ live: true, fetch: 'tuned', defaults: 10 });
  });

  it('without the preload getAgent() is undefined', async () => {
    const r = await runNode(['app.cjs'], {}, 60_000, app);
    expect(jsonLines(r.stdout)[0]).toEqual({ live: false, tuning: undefined });
  });

  it('installs none of the optional peer dependencies, nor undici', () => {
    const installed = (name: string) => existsSync(join(app, 'node_modules', name, 'package.json'));
    for (const name of [...OPTIONAL, 'undici']) expect(installed(name), name).toBe(false);
    // ...and each optional one is declared, with the range the error message quotes.
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'titan-perf', 'package.json'), 'utf8'));
    for (const name of OPTIONAL) expect(pkg.peerDependenciesMeta[name], name).toEqual({ optional: true });
  });

  it('a database pool without generic-pool: a coded error naming what to install', async () => {
    const r = await runNode(['pool.cjs'], {}, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    const out = jsonLines(r.stdout)[0] as { code: string; message: string };
    expect(out.code).toBe('TITAN_PERF_PACKAGE_MISSING');
    expect(out.message).toBe(
      "createDatabaseConnectionPool needs the package generic-pool, which is not installed: npm install generic-pool@'^3.9.0'",
    );
  });

  it.each([
    // Nothing listens on the Prometheus port: without the package no endpoint is started.
    [
      'prometheus',
      { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '19999' },
      '@opentelemetry/exporter-prometheus',
    ],
    [
      'otlp over grpc',
      { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' },
      '@opentelemetry/exporter-metrics-otlp-grpc',
    ],
  ])(
    'the preload exporting with %s, not installed: one line naming the package, the app unaffected',
    async (_, env, name) => {
      const r = await runNode(
        ['--require', 'titan-perf/preload', 'linger.cjs'],
        { ...env, TITAN_PERF_TELEMETRY__EXPORT_DELAY: '0' },
        60_000,
        app,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(jsonLines(r.stdout)[0]).toEqual({ done: true });
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`needs the package ${name}, which is not installed: npm install ${name}@`);
    },
  );

  it('the sidecar without ioredis: the Redis store says what to install, the other stores still plan', async () => {
    const cfg = join(app, 'redis-on.json');
    writeFileSync(cfg, JSON.stringify({ redis: { enabled: true, port: 1 }, system: { enabled: true } }));
    // An empty procfs root: nothing of the host is read, the sysctl store still plans (every key absent).
    const procRoot = mkdtempSync(join(tmpdir(), 'titan-perf-proc-'));
    const stateDir = mkdtempSync(join(tmpdir(), 'titan-perf-state-'));
    try {
      const cli = join(app, 'node_modules', 'titan-perf', 'dist', 'sidecar', 'cli.js');
      const r = await runNode(
        [cli, 'plan', '--json', '--config', cfg, '--proc-root', procRoot, '--state-dir', stateDir],
        {},
        60_000,
        app,
      );
      expect(r.stdout + r.stderr).toContain(
        "Redis (redis.enabled) needs the package ioredis, which is not installed: npm install ioredis@'^5.9.2'",
      );
      expect(r.stdout).toContain('net.core.somaxconn');
    } finally {
      for (const d of [procRoot, stateDir]) rmSync(d, { recursive: true, force: true });
    }
  });
});
