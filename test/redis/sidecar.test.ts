import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_PARAMETERS } from '../../dist/src/redis/parameters.js';
import { startRedis, type RedisServer } from '../helpers/redis-server';
import { runCli, startCli, tempDir } from '../sidecar/support';
import { cliEnv, configGet, rawClient } from './support';
import { waitFor } from '../helpers/wait';

/** The Redis store through the real `titan-perf-sidecar` processes: plan, apply, verify, rollback, crash, two pods. */

const DESIRED = {
  hz: 50,
  tcpKeepalive: 120,
  latencyMonitorThreshold: 25,
  maxMemory: '64mb',
  maxMemoryPolicy: 'allkeys-lfu',
  appendOnly: false,
  appendFsync: 'everysec',
};

/** Fails fast with the daemon's own output when it exits instead of applying. */
function alive(child: ChildProcess): () => void {
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  return () => {
    if (child.exitCode !== null) throw new Error(`the sidecar exited (${child.exitCode}):\n${out}`);
  };
}

function waitExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve(child.exitCode)
      : child.once('exit', (code) => resolve(code)),
  );
}

describe('Redis through the sidecar CLI', () => {
  let server: RedisServer;
  let dir: string;
  let originals: Map<string, string>;

  function configFile(name: string, redis: Record<string, unknown>): string {
    const file = join(dir, `${name}.json`);
    const config = {
      system: { enabled: false },
      redis: { host: server.host, port: server.port, connectRetries: 1, leaseTtl: 2000, ...redis },
      dataDir: join(dir, `state-${name}`),
    };
    writeFileSync(file, JSON.stringify(config));
    return file;
  }

  async function snapshot(): Promise<Map<string, string>> {
    const raw = rawClient(server);
    const out = new Map<string, string>();
    for (const p of REDIS_PARAMETERS) out.set(p.key, await configGet(raw, p.key));
    raw.disconnect();
    return out;
  }

  beforeAll(async () => {
    server = await startRedis();
    dir = tempDir('redis-cli');
    originals = await snapshot();
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plan shows pending changes, apply writes them, verify sees drift, rollback from a new process restores the originals', async () => {
    const cfg = configFile('one', DESIRED);
    const plan = await runCli(['plan', '--config', cfg, '--json'], { env: cliEnv() });
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    const entries = JSON.parse(plan.stdout).plan.filter((e: { store: string }) => e.store === 'redis');
    expect(entries.find((e: { key: string }) => e.key === 'hz')).toMatchObject({
      current: '10',
      desired: '50',
      action: 'change',
    });
    expect(entries.find((e: { key: string }) => e.key === 'maxmemory')).toMatchObject({
      current: '0',
      desired: String(64 * 1024 * 1024),
      action: 'change',
    });

    const apply = await runCli(['apply', '--config', cfg], { env: cliEnv() });
    expect(apply.stderr + apply.stdout).not.toMatch(/failed: /);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const raw = rawClient(server);
    try {
      expect(await configGet(raw, 'hz')).toBe('50');
      expect(await configGet(raw, 'maxmemory-policy')).toBe('allkeys-lfu');
      // The CLI process released its lease on exit.
      expect(await raw.exists('titan-perf:config-lease')).toBe(0);

      const verify = await runCli(['verify', '--config', cfg], { env: cliEnv() });
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      await raw.config('SET', 'hz', '11');
      const drift = await runCli(['verify', '--config', cfg], { env: cliEnv() });
      expect(drift.code, drift.stdout + drift.stderr).toBe(3);
      expect(drift.stdout).toMatch(/hz/);

      const rollback = await runCli(['rollback', '--config', cfg], { env: cliEnv() });
      expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
      expect(rollback.stdout).toMatch(/restored redis hz = 10/);
      expect(await snapshot()).toEqual(originals);
      expect(await raw.exists('titan-perf:config-originals')).toBe(0);
      expect((await runCli(['rollback', '--config', cfg], { env: cliEnv() })).stdout).toMatch(/nothing to roll back/);
    } finally {
      raw.disconnect();
    }
  });

  it('kill -9 of the owning daemon: its lease expires, then rollback from a new process restores every original', async () => {
    const cfg = configFile('crash', DESIRED);
    const daemon = startCli(['run', '--config', cfg, '--listen', '127.0.0.1:0', '--interval', '500'], {
      env: cliEnv(),
    });
    const raw = rawClient(server);
    try {
      const check = alive(daemon);
      await waitFor(
        'the daemon to apply',
        async () => {
          check();
          return (await configGet(raw, 'hz')) === '50' && (await configGet(raw, 'tcp-keepalive')) === '120';
        },
        50_000,
      );
      expect(await raw.get('titan-perf:config-lease')).toMatch(/#[0-9a-f]+$/);
      daemon.kill('SIGKILL');
      await waitExit(daemon);

      // Right after the crash the dead owner's lease still stands: rollback refuses and says why.
      const early = await runCli(['rollback', '--config', cfg], { env: cliEnv() });
      if (await raw.exists('titan-perf:config-lease')) {
        expect(early.code, early.stdout + early.stderr).toBe(1);
        expect(early.stdout + early.stderr).toMatch(/TITAN_PERF_REDIS_LEASE_HELD/);
        expect(await configGet(raw, 'hz')).toBe('50');
      }
      await waitFor('the lease to expire', async () => (await raw.exists('titan-perf:config-lease')) === 0, 30_000);
      const rollback = await runCli(['rollback', '--config', cfg], { env: cliEnv() });
      expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
      expect(await snapshot()).toEqual(originals);
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      raw.disconnect();
    }
  });

  it('kill -9 between journal and first write: rollback from a new process finds the originals in Redis', async () => {
    const cfg = configFile('paused', DESIRED);
    const child = startCli(['apply', '--config', cfg], { env: cliEnv({ TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL: '1' }) });
    let err = '';
    child.stderr!.on('data', (b) => (err += b));
    const raw = rawClient(server);
    try {
      await waitFor(
        'the pause after the journal',
        () => /test pause after journal/.test(err) || child.exitCode !== null,
        50_000,
      );
      expect(err).toMatch(/test pause after journal/);
      const journalled = await raw.hgetall('titan-perf:config-originals');
      // Exactly the settings the run would change, each with its value before the run.
      expect(Object.keys(journalled)).toEqual(
        expect.arrayContaining(['redis|hz', 'redis|tcp-keepalive', 'redis|maxmemory', 'redis|maxmemory-policy']),
      );
      expect(journalled).not.toHaveProperty(['redis|appendonly']);
      for (const [field, text] of Object.entries(journalled))
        expect(JSON.parse(text).original, field).toBe(originals.get(field.slice('redis|'.length)));
      expect(JSON.parse(journalled['redis|hz'])).toMatchObject({ original: '10' });
      child.kill('SIGKILL');
      await waitExit(child);
      const rollback = await runCli(['rollback', '--config', cfg], { env: cliEnv() });
      expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
      expect(await snapshot()).toEqual(originals);
      expect(await raw.exists('titan-perf:config-originals')).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      raw.disconnect();
    }
  });

  it("two pods: the second cannot apply or roll back while the first owns the lease; after it stops, rollback restores the true originals, not pod A's values", async () => {
    const cfgA = configFile('pod-a', { ...DESIRED, hz: 20 });
    const cfgB = configFile('pod-b', { ...DESIRED, hz: 30 });
    const daemonA = startCli(['run', '--config', cfgA, '--listen', '127.0.0.1:0', '--interval', '500'], {
      env: cliEnv({ HOSTNAME: 'pod-a' }),
    });
    const raw = rawClient(server);
    try {
      const check = alive(daemonA);
      await waitFor(
        'pod A to apply',
        async () => {
          check();
          return (await configGet(raw, 'hz')) === '20';
        },
        50_000,
      );
      const applyB = await runCli(['apply', '--config', cfgB], { env: cliEnv({ HOSTNAME: 'pod-b' }) });
      expect(applyB.code, applyB.stdout + applyB.stderr).toBe(1);
      expect(applyB.stdout + applyB.stderr).toMatch(/another sidecar owns this Redis's configuration \(pod-a\//);
      expect(await configGet(raw, 'hz')).toBe('20');
      const rollbackB = await runCli(['rollback', '--config', cfgB], { env: cliEnv({ HOSTNAME: 'pod-b' }) });
      expect(rollbackB.code, rollbackB.stdout + rollbackB.stderr).toBe(1);
      expect(await configGet(raw, 'hz')).toBe('20');

      daemonA.kill('SIGTERM');
      expect(await waitExit(daemonA)).toBe(0);
      // A graceful stop releases the lease at once: no waiting for the TTL.
      expect(await raw.exists('titan-perf:config-lease')).toBe(0);

      // Pod B applies over pod A's values; the journal keeps the true originals.
      const applyB2 = await runCli(['apply', '--config', cfgB], { env: cliEnv({ HOSTNAME: 'pod-b' }) });
      expect(applyB2.code, applyB2.stdout + applyB2.stderr).toBe(0);
      expect(await configGet(raw, 'hz')).toBe('30');
      expect(JSON.parse((await raw.hget('titan-perf:config-originals', 'redis|hz'))!)).toMatchObject({
        original: '10',
      });
      const rollbackB2 = await runCli(['rollback', '--config', cfgB], { env: cliEnv({ HOSTNAME: 'pod-b' }) });
      expect(rollbackB2.code, rollbackB2.stdout + rollbackB2.stderr).toBe(0);
      expect(await snapshot()).toEqual(originals);
    } finally {
      if (daemonA.exitCode === null) daemonA.kill('SIGKILL');
      raw.disconnect();
    }
  });
});
