/**
 * An app that loads the npm undici package after its first fetch: undici
 * keeps one global dispatcher per process in a global symbol, shared by every
 * copy of the package and by Node's fetch, so the package's request() goes
 * through the tuned fetch Agent. Measured with real undici 6, 7 and 8 and a
 * real server counting TCP connections; status() must say so.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonLines, PRELOAD, ROOT, runNode } from '../preload/run';

interface Out {
  undici: string;
  ok: number;
  connections: number;
  tuning?: { name: string; state: string; reason?: string }[];
}

const CAP = { TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS: '4' };
const PACKAGES = { 6: 'undici6', 7: 'undici', 8: 'undici8' } as const;

async function run(pkg: string, preload: boolean, env: Record<string, string> = {}): Promise<Out> {
  const args = [...(preload ? ['--require', PRELOAD] : []), fixture('npm-undici-after-fetch.cjs')];
  const r = await runNode(args, { NPM_UNDICI: join(ROOT, 'node_modules', pkg), ...CAP, ...env });
  expect(r.code, r.stderr).toBe(0);
  const out = jsonLines(r.stdout)[0] as unknown as Out;
  expect(out.ok).toBe(16);
  return out;
}

describe(`npm undici loaded after the first fetch (Node ${process.version})`, () => {
  for (const [major, pkg] of Object.entries(PACKAGES)) {
    it(`undici ${major}: request() shares the tuned pool, and status() says so`, async () => {
      const [bare, tuned, explicit, optOut] = await Promise.all([
        run(pkg, false),
        run(pkg, true),
        run(pkg, true, { EXPLICIT: '1' }),
        run(pkg, true, { TITAN_PERF_NODEJS__TUNE_FETCH: 'false' }),
      ]);
      expect(tuned.undici.split('.')[0]).toBe(major);
      // Without titan-perf: one connection per concurrent request (plus the first fetch's).
      expect(bare.connections).toBeGreaterThanOrEqual(16);
      // An Agent passed per call, or fetch tuning off: the app's own pool, untouched.
      expect(explicit.connections).toBeGreaterThanOrEqual(16);
      expect(optOut.connections).toBeGreaterThanOrEqual(16);
      expect(optOut.tuning?.find((t) => t.name === 'npm undici global dispatcher')).toBeUndefined();

      const fetchState = tuned.tuning?.find((t) => t.name === 'fetch')?.state;
      const shared = tuned.tuning?.find((t) => t.name === 'npm undici global dispatcher');
      if (fetchState === 'replaced') {
        // undici 8 on Node 22 installs a global dispatcher of its own when it loads
        // (Node's undici 6 has none in the slot undici 8 reads): fetch and request() use it.
        expect(shared).toBeUndefined();
        expect(tuned.connections).toBeGreaterThanOrEqual(16);
      } else {
        expect(fetchState).toBe('tuned');
        // The tuned Agent's 4 connections per origin (one more where the first fetch's closed early).
        expect(tuned.connections).toBeLessThanOrEqual(5);
        expect(shared).toMatchObject({ state: 'tuned' });
        expect(shared?.reason).toContain("npm undici's global dispatcher is shared with fetch");
        expect(shared?.reason).toContain(`undici ${tuned.undici}`);
        expect(shared?.reason).toContain('4 connections per origin');
      }
    });
  }
});
