#!/usr/bin/env node
// `npm run demo`: both faces. First an example HTTP service under the preload,
// driven by load and outbound fetch calls, with three induced event-loop stalls
// so a warning and its recovery show (threshold 50 ms p99); the service prints
// its agent's live readings for ~15 s and then exits 0 by itself. Then the
// sidecar on its embedded defaults (scripts/demo-sidecar.mjs): its read-only
// plan for this machine and, as root, apply, verify and rollback in a network
// namespace of its own. `--sidecar-only` skips the preload part.
//
// One file, two roles: without arguments it is the driver (any Node >= 20:
// it builds if needed, starts the service on the project's Node 24 and sends
// the load); with --service it is the service (started with --require
// dist/preload/index.js, so it is an app that knows nothing of titan-perf
// except the getAgent() call it uses to print readings).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_MS = 15_000;
const MiB = 1024 * 1024;

if (process.argv.includes('--service')) await service();
else await driver();

async function driver() {
  if (!existsSync(join(ROOT, 'dist', 'preload', 'index.js'))) {
    console.log('building (npx tsc) ...');
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
    if (!existsSync(join(ROOT, 'dist', 'preload', 'index.js'))) process.exit(b.status || 1);
  }
  const { ensureRuntime } = await import('./runtimes.mjs');
  const node = ensureRuntime(24);
  const preload = process.argv.includes('--sidecar-only') ? 0 : await showPreload(node);
  if (preload !== 0) process.exit(preload);
  const { showSidecar } = await import('./demo-sidecar.mjs');
  process.exit(await showSidecar({ root: ROOT, node }));
}

/** The preload part; resolves to the service's exit code. */
async function showPreload(node) {
  const env = {
    ...process.env,
    TITAN_PERF_NODEJS__SAMPLE_INTERVAL: '1000',
    TITAN_PERF_NODEJS__WARNING_COOLDOWN: '5000',
    TITAN_PERF_NODEJS__MAX_EVENT_LOOP_DELAY: '50',
    TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: '4',
  };
  console.log('=== the preload (titan-perf/preload) in an example service ===\n');
  console.log(`starting the example service: ${node} --require dist/preload/index.js scripts/demo.mjs --service`);
  console.log(
    '  (config from the environment: sample every 1 s, warn above 50 ms p99 delay, 4 fetch connections per origin)\n',
  );
  const child = spawn(
    node,
    ['--require', join(ROOT, 'dist', 'preload', 'index.js'), fileURLToPath(import.meta.url), '--service'],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let port;
  let buffered = '';
  const ready = new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^listening on (\d+)$/.exec(line);
        if (m) {
          port = Number(m[1]);
          resolve();
        } else console.log(line);
      }
    });
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await Promise.race([ready, exited]);
  if (!port) return (await exited) || 1;

  // Load from this separate process: a client inside the service would stall with it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const get = (path) =>
    new Promise((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', resolve);
    });
  let running = true;
  const started = Date.now();
  // Steady, not saturating: the stall below should stand out, not drown in a busy loop.
  const workers = Array.from({ length: 4 }, async (_, i) => {
    while (running && Date.now() - started < RUN_MS - 2000) {
      await get(i % 2 ? '/upstream' : '/work');
      await new Promise((r) => setTimeout(r, 3));
    }
  });
  setTimeout(() => {
    console.log('\n>>> driver: three 250 ms busy waits in the service (GET /block) <<<\n');
    for (let k = 0; k < 3; k++) setTimeout(() => get('/block?ms=250'), k * 350);
  }, 5000);
  await Promise.all(workers);
  running = false;
  agent.destroy();
  return (await exited) ?? 1;
}

async function service() {
  const require = createRequire(import.meta.url);
  const { getAgent } = require(join(ROOT, 'dist', 'src', 'index.js'));
  const agent = getAgent();
  if (!agent) {
    console.log('the preload is not active (TITAN_PERF_DISABLED?): nothing to show');
    process.exit(1);
  }
  let requests = 0;
  let cache = [];
  const server = http.createServer(async (req, res) => {
    requests++;
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/work') {
      // Some allocation so the GC has something to do.
      cache.push(Buffer.alloc(16 * 1024).toString('hex'));
      if (cache.length > 2000) cache = [];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, items: cache.length }));
    } else if (url.pathname === '/upstream') {
      // Outbound fetch (through the tuned global dispatcher) to a dependency: here, ourselves.
      const r = await fetch(`http://127.0.0.1:${server.address().port}/work`);
      res.end(await r.text());
    } else if (url.pathname === '/block') {
      const until = Date.now() + Number(url.searchParams.get('ms') || 300);
      while (Date.now() < until);
      res.end('blocked');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));

  const t0 = Date.now();
  const fmt = (n, d = 1) => n.toFixed(d);
  agent.on('readings', (r) => {
    const e = r.eventLoop;
    const byKind = {};
    for (const p of r.gc.pauses) byKind[p.kind] = (byKind[p.kind] || 0) + 1;
    const gcTotal = r.gc.pauses.reduce((s, p) => s + p.durationMs, 0);
    const pools =
      r.pools
        .map((p) => `${p.origin} conn ${p.connected} free ${p.free} pending ${p.pending} queued ${p.queued}`)
        .join('; ') || 'no outbound yet';
    console.log(
      `[${String(Math.round((r.at - t0) / 1000)).padStart(2)}s] ${String(requests).padStart(5)} req | loop p50 ${fmt(e.p50)} p99 ${fmt(e.p99)} max ${fmt(e.max)} ms, util ${fmt(e.utilization * 100, 0)}%` +
        ` | gc ${r.gc.pauses.length} pauses ${JSON.stringify(byKind)} ${fmt(gcTotal)} ms | heap ${fmt(r.heap.used / MiB)} of ${fmt(r.heap.limit / MiB, 0)} MiB | fetch pool ${pools}`,
    );
    requests = 0;
  });
  agent.on('performance-warning', (w) =>
    console.log(`  !! performance-warning [${w.severity}] ${w.metric}: ${w.message}`),
  );
  agent.on('performance-recovered', (w) => console.log(`  ok performance-recovered ${w.metric}: ${w.message}`));

  setTimeout(() => {
    const s = agent.status();
    console.log('\nstatus() at the end:');
    for (const t of s.tuning)
      console.log(
        `  ${t.name}: ${t.state}${t.reason ? ` (${t.reason})` : ''}${t.settings ? ` ${JSON.stringify(t.settings)}` : ''}`,
      );
    console.log(
      `  memory limit: ${fmt(s.memory.limitBytes / MiB, 0)} MiB (${s.memory.source}), V8 heap limit ${fmt(s.memory.heapLimitBytes / MiB, 0)} MiB`,
    );
    for (const v of s.verdicts)
      console.log(`  verdict [${v.severity}] ${v.id}: ${v.message}${v.fix ? `\n      fix: ${v.fix}` : ''}`);
    server.close();
    server.closeAllConnections();
  }, RUN_MS).unref();
  // The server keeps the process alive until the timer above closes it; the agent holds nothing.
}
