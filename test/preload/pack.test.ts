/**
 * The published shape: `npm pack` of this repo (the dist the suite built),
 * installed from the tarball into a fresh app outside the repo, then run with
 * `--require titan-perf/preload` and `--import titan-perf/preload`, reaching
 * the agent through `require('titan-perf')` and an ESM named import.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(out, tgz)], { cwd: app, stdio: 'ignore', timeout: 280_000 });
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
}, 300_000);

afterAll(() => {
  // The installed app holds a full node_modules; do not leave one per run in /tmp.
  for (const d of [app, packDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe(`the packed package in a fresh app (Node ${process.version})`, () => {
  it('--require titan-perf/preload with require("titan-perf").getAgent()', async () => {
    const r = await runNode(['--require', 'titan-perf/preload', 'app.cjs'], {}, 60_000, app);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(jsonLines(r.stdout)[0]).toEqual({ live: true, tuning: ['fetch:armed', 'http.globalAgent:armed', 'https.globalAgent:armed'] });
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
});
