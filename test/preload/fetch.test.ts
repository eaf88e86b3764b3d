/**
 * Fetch and the http(s) agents under the preload, on the Node running the
 * test: tuning is proven by observation (the server's TCP connection count
 * matches the tuned per-origin limit, and the agent's per-origin pool
 * readings agree), and every fetch behaviour an app can see is the same with
 * and without the preload.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServers, type Servers } from './servers';
import { fixture, jsonLines, PRELOAD, ROOT, runNode } from './run';

let servers: Servers;
beforeAll(async () => {
  servers = await startServers();
});
afterAll(() => servers?.close());

const LIMIT = '2';

/** 12 concurrent requests from a fixture app, without and then with the preload; the server counts the connections each run opened. */
async function concurrentRequests(scheme: 'http' | 'https', client: string) {
  const env = { BASE: servers[scheme].url, NODE_EXTRA_CA_CERTS: servers.caFile, CLIENT: client, N: '12' };
  servers[scheme].resetConnections();
  const plain = await runNode([fixture('concurrent-clients.cjs')], env);
  const plainConnections = servers[scheme].connections();
  servers[scheme].resetConnections();
  const tuned = await runNode(['--require', PRELOAD, fixture('concurrent-clients.cjs')], {
    ...env,
    TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: LIMIT,
  });
  const tunedConnections = servers[scheme].connections();
  expect(plain.code, plain.stderr).toBe(0);
  expect(tuned.code, tuned.stderr).toBe(0);
  expect(jsonLines(plain.stdout)[0]).toMatchObject({ bodies: 12 });
  const out = jsonLines(tuned.stdout)[0] as {
    bodies: number;
    pools: { origin: string; connected: number }[];
    tuning: string[];
  };
  expect(out.bodies).toBe(12);
  return { plainConnections, tunedConnections, out };
}

describe(`fetch under the preload (Node ${process.version})`, () => {
  for (const scheme of ['http', 'https'] as const) {
    it(`${scheme}: every scenario behaves exactly as without the preload`, async () => {
      const env = { BASE: servers[scheme].url, NODE_EXTRA_CA_CERTS: servers.caFile };
      const [plain, tuned] = await Promise.all([
        runNode([fixture('fetch-scenarios.cjs')], env),
        runNode(['--require', PRELOAD, fixture('fetch-scenarios.cjs')], {
          ...env,
          TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: LIMIT,
        }),
      ]);
      expect(plain.code, plain.stderr).toBe(0);
      expect(tuned.code, tuned.stderr).toBe(0);
      const a = jsonLines(plain.stdout);
      const b = jsonLines(tuned.stdout);
      expect(a.length).toBe(19);
      expect(b).toEqual(a);
      // The comparison is only worth something if the tuned run really went through the tuned dispatcher.
      expect(tuned.stdout).toContain('agent fetch state: tuned');
      // And the scenarios really exercised what they name.
      const byName = Object.fromEntries(a.map((l) => [l.name, l.result as Record<string, unknown>]));
      expect(byName.gzip).toMatchObject({ status: 200, body: 'gzip body '.repeat(200) });
      expect(byName.brotli).toMatchObject({ status: 200, body: 'brotli body '.repeat(200) });
      expect(byName.redirectFollow).toMatchObject({ redirected: true, path: '/text', body: 'hello from the server' });
      expect(byName.redirect307KeepsBody).toMatchObject({ path: '/echo' });
      expect(JSON.parse(String((byName.redirect307KeepsBody as { body: string }).body))).toMatchObject({
        method: 'POST',
        body: 'kept',
      });
      expect(JSON.parse(String((byName.postStreamingBody as { body: string }).body))).toMatchObject({
        body: 'part1;part2;',
        transferEncoding: 'chunked',
      });
      expect(byName.streamingResponse).toEqual({ status: 200, text: 'chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;' });
      expect(byName.abortBeforeResponse).toEqual({ error: 'AbortError', cause: null });
      expect(byName.timeoutSignal).toMatchObject({ error: 'TimeoutError' });
      expect(byName.abortDuringBody).toMatchObject({ first: 'first part;', after: { error: 'AbortError' } });
      expect(byName.connectionRefused).toMatchObject({ error: 'TypeError' });
    });

    it(`${scheme}: global fetch goes through the tuned Agent (connections per origin = ${LIMIT})`, async () => {
      const { plainConnections, tunedConnections, out } = await concurrentRequests(scheme, 'fetch');
      // Node's default Agent opens one connection per concurrent request; the tuned one stops at the limit.
      expect(plainConnections).toBeGreaterThan(Number(LIMIT));
      expect(tunedConnections).toBe(Number(LIMIT));
      expect(out.tuning).toContain('fetch:tuned');
      expect(out.pools).toEqual([expect.objectContaining({ origin: servers[scheme].url, connected: Number(LIMIT) })]);
    });

    it(`${scheme}.globalAgent is tuned once the app loads '${scheme}' (sockets per host = ${LIMIT})`, async () => {
      const { plainConnections, tunedConnections, out } = await concurrentRequests(scheme, scheme);
      expect(plainConnections).toBeGreaterThan(Number(LIMIT));
      expect(tunedConnections).toBe(Number(LIMIT));
      expect(out.tuning).toContain(`${scheme}.globalAgent:tuned`);
    });
  }

  it('tunes the dispatcher Node creates, however its undici gets loaded; leaves the npm undici one and the app one alone', async () => {
    const expected: Record<string, [string, boolean]> = {
      none: ['tuned', true],
      headers: ['tuned', true],
      'websocket-export': ['tuned', true],
      'looked-at-slot': ['tuned', true],
      'npm-undici-loaded': ['left-alone', false],
      'npm-undici-set': ['left-alone', false],
      'app-assigns': ['left-alone', false],
      // The app's own setGlobalDispatcher after tuning wins, and status() says so.
      'npm-undici-set-after': ['replaced', false],
    };
    const runs = await Promise.all(
      Object.keys(expected).map((mode) =>
        runNode(['--require', PRELOAD, fixture('dispatcher-cases.cjs'), mode], {
          NPM_UNDICI: join(ROOT, 'node_modules', 'undici'),
        }),
      ),
    );
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      const out = jsonLines(r.stdout)[0] as {
        mode: string;
        state: string;
        fetchUsesTuned: boolean;
        untouched: boolean;
      };
      expect([out.state, out.fetchUsesTuned], out.mode).toEqual(expected[out.mode]);
      expect(out.untouched, out.mode).toBe(true);
    }
    const esm = await runNode(['--import', PRELOAD, fixture('esm-http-import.mjs')]);
    expect(esm.code, esm.stderr).toBe(0);
    expect(jsonLines(esm.stdout)[0]).toEqual({
      http: 'function',
      loadedEarly: true,
      state: 'tuned',
      fetchUsesTuned: true,
    });
  });
});
