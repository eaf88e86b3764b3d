/**
 * What only a fresh process shows: fetch really goes through the tuned
 * dispatcher and gets Node's own back on rollback; an optimizer that applied
 * everything and was never closed still lets the process exit; a non-root
 * process gets warnings, not failures, for kernel settings; a database pool's
 * readings reach getPerformanceMetrics, the agent's Readings and the score.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeProcRoot, tempDir } from '../sidecar/support';
import { FIXTURES } from '../helpers/paths';

const FIXTURE = join(FIXTURES, 'lifecycle.cjs');
const LOCAL_ONLY = { redis: { enabled: false }, system: { enabled: false } };

// The non-root case runs the fixture as `nobody`: that needs a checkout that user can read
// (a clone under /root is not). Probed once, and said plainly when it cannot run.
const nobodyCanRun =
  spawnSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'src', 'index.js'))})`],
    {
      uid: 65534,
      gid: 65534,
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  ).status === 0;

function lifecycle(
  args: string[],
  opts: { uid?: number; nodeFlags?: string[] } = {},
): Promise<{ code: number | null; out: Record<string, unknown>; lines: Record<string, unknown>[]; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...(opts.nodeFlags ?? []), FIXTURE, ...args],
      {
        timeout: 60_000,
        env: { ...process.env, NODE_OPTIONS: '' },
        ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
      },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1);
        if (!line) return reject(new Error(`no output (${err?.message}):\n${stderr}`));
        const lines = stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({
          code: err ? ((err as { code?: number }).code ?? null) : 0,
          out: lines.at(-1)!,
          lines,
          ms: Date.now() - started,
        });
      },
    );
  });
}

describe('in a fresh process', () => {
  it('fetch goes through the tuned dispatcher, gets Node’s own back on rollback, and the process exits without close()', async () => {
    const r = await lifecycle(['fetch', JSON.stringify(LOCAL_ONLY)]);
    expect(r.out.crashed).toBeUndefined();
    expect(r.code).toBe(0); // exited on its own: nothing titan-perf holds keeps the loop alive
    const out = r.out as {
      tuned: { body: string; changed: boolean; state: string };
      origin: { connected: number };
      rollback: { success: boolean; restored: string[] };
      after: { body: string; restored: boolean; hadNone: boolean };
    };
    expect(out.tuned).toMatchObject({ body: 'ok', changed: true, state: 'tuned' });
    // Observed, not assumed: the tuned Agent's own per-origin stats hold the connection fetch used.
    expect(out.origin.connected).toBe(1);
    expect(out.rollback.success).toBe(true);
    expect(out.rollback.restored).toContain('nodejs fetch: original restored');
    expect(out.after).toEqual({ body: 'ok', restored: true, hadNone: true });
  });

  it.skipIf(!nobodyCanRun)(
    'without root, kernel settings are warnings naming the missing privilege, not failures (needs a checkout readable by nobody)',
    async () => {
      const proc = fakeProcRoot({ 'net.core.somaxconn': '4096' });
      chmodSync(proc, 0o755);
      const dataDir = tempDir('nonroot');
      // Owned by the user that runs it: a state dir others can write is refused.
      chownSync(dataDir, 65534, 65534);
      const r = await lifecycle(['privilege', JSON.stringify({ redis: { enabled: false }, dataDir }), proc], {
        uid: 65534,
      });
      expect(r.code).toBe(0);
      const out = r.out as { uid: number; result: { success: boolean; errors: unknown[]; warnings: string[] } };
      expect(out.uid).toBe(65534);
      expect(out.result.success).toBe(true);
      expect(out.result.errors).toEqual([]);
      expect(out.result.warnings).toContainEqual(
        expect.stringMatching(
          /^sysctl net\.core\.somaxconn not applied: the kernel refuses to open it for writing \(EACCES\): .*CAP_NET_ADMIN/,
        ),
      );
      expect(readFileSync(join(proc, 'sys/net/core/somaxconn'), 'utf8').trim()).toBe('4096');
    },
  );

  it("with the preload running, the optimizer uses the preload's agent and never starts a second one", async () => {
    const r = await lifecycle(['preload', JSON.stringify(LOCAL_ONLY)], {
      nodeFlags: ['--require', join(__dirname, '..', '..', 'dist', 'preload', 'index.js')],
    });
    expect(r.code).toBe(0);
    const out = r.out as Record<string, unknown>;
    expect(out).toEqual({ afterClose: true }); // close() leaves the preload's agent running
    const first = r.lines[0] as { nodejsWarnings: string[]; rollback: { restored: string[]; warnings: string[] } };
    expect(first).toMatchObject({
      preloadRunning: true,
      same: true,
      usesPreloadAgent: true,
      hasReadings: true,
      stillRunning: true,
    });
    expect(first.nodejsWarnings[0]).toMatch(/the titan-perf preload already runs in this process: its tuning is kept/);
    expect(first.rollback.restored).toEqual([]);
    expect(first.rollback.warnings[0]).toMatch(/belongs to the titan-perf preload.*TITAN_PERF_DISABLED=1/);
  });

  it("a database pool's readings reach the metrics, the agent's Readings and the score", async () => {
    const r = await lifecycle(['pool', JSON.stringify(LOCAL_ONLY)]);
    expect(r.code).toBe(0);
    const out = r.out as {
      timedOut: string;
      pools: Record<string, unknown>[];
      readings: Record<string, unknown>[];
      recommendations: string[];
    };
    expect(out.timedOut).toBe('TITAN_PERF_POOL_ACQUIRE_TIMEOUT');
    expect(out.pools).toEqual([expect.objectContaining({ name: 'echo', max: 1, size: 1, used: 1, timeouts: 1 })]);
    expect((out.pools[0].waitMsMax as number) >= 150).toBe(true);
    expect(out.readings).toEqual(out.pools);
    expect(out.recommendations).toContain('pools.db.timeouts');
  });
});
