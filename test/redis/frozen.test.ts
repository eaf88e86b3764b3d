/**
 * A Redis that stops answering must not hang anything: a TCP server on
 * loopback that accepts and never replies, and a real redis-server stopped
 * with SIGSTOP. Every command has a deadline (redis.commandTimeout, 5 s by
 * default), so plan/apply/verify/rollback fail with TITAN_PERF_REDIS_TIMEOUT
 * within a bound, and the daemon's shutdown ends after its grace period.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../helpers/redis-server';
import { probe, startDaemon } from '../sidecar/daemon-support';
import { exited, fakeProcRoot, runCli, tempDir, waitFor } from '../sidecar/support';
import { configGet, rawClient } from './support';

let frozen: Server;
let frozenPort: number;
const held: Socket[] = [];

beforeAll(async () => {
  frozen = createServer((socket) => {
    // Accept, read, never reply: what a stopped or wedged server looks like from the client.
    held.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
  frozenPort = (frozen.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((r) => frozen.close(r));
});

function config(dir: string, redis: Record<string, unknown>, daemon: Record<string, unknown> = {}): string {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      system: { enabled: false, daemon },
      redis: { connectRetries: 0, ...redis },
      dataDir: join(dir, 'state'),
    }),
  );
  return file;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await fn();
  return [value, Date.now() - started];
}

describe('a Redis that accepts connections and never replies', () => {
  it('plan, apply, verify and rollback each fail with TITAN_PERF_REDIS_TIMEOUT within a bound (default commandTimeout)', async () => {
    const dir = tempDir('frozen');
    const cfg = config(dir, { host: '127.0.0.1', port: frozenPort });
    const root = fakeProcRoot({});
    const times: Record<string, number> = {};
    for (const command of ['plan', 'apply', 'verify', 'rollback']) {
      const [r, ms] = await timed(() => runCli([command, '--config', cfg, '--proc-root', root], { timeout: 60_000 }));
      times[command] = ms;
      const output = r.stdout + r.stderr;
      expect(r.code, `${command}: ${output}`).toBe(1);
      expect(output, command).toMatch(/TITAN_PERF_REDIS_TIMEOUT|did not answer within 5000 ms/);
      expect(output, command).toMatch(/redis\.commandTimeout/);
      // One deadline for the handshake (no retries configured), plus the process's own start and close.
      expect(ms, `${command} took ${ms} ms`).toBeLessThan(20_000);
    }
    console.log(`frozen Redis, ms to fail: ${JSON.stringify(times)}`);
  }, 120_000);

  it('a shorter redis.commandTimeout fails sooner', async () => {
    const dir = tempDir('frozen-short');
    const cfg = config(dir, { host: '127.0.0.1', port: frozenPort, commandTimeout: 500 });
    const [r, ms] = await timed(() => runCli(['plan', '--json', '--config', cfg], { timeout: 60_000 }));
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).plan.find((e: { store: string }) => e.store === 'redis').reason).toMatch(
      /did not answer within 500 ms \(redis\.commandTimeout\)/,
    );
    expect(ms).toBeLessThan(10_000);
  });
});

describe('a real redis-server stopped with SIGSTOP', () => {
  it('apply fails in bounded time while it is stopped; after SIGCONT nothing was changed and apply works', async () => {
    const server = await startRedis();
    const dir = tempDir('sigstop');
    const cfg = config(dir, { host: server.host, port: server.port, commandTimeout: 1000, hz: 42 });
    try {
      server.process.kill('SIGSTOP');
      const [r, ms] = await timed(() => runCli(['apply', '--config', cfg], { timeout: 60_000 }));
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/did not answer within 1000 ms/);
      expect(ms).toBeLessThan(15_000);
      console.log(`SIGSTOP'd redis-server: apply failed after ${ms} ms`);
    } finally {
      server.process.kill('SIGCONT');
    }
    const raw = rawClient(server);
    try {
      expect(await configGet(raw, 'hz')).toBe('10');
      const again = await runCli(['apply', '--config', cfg]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(await configGet(raw, 'hz')).toBe('42');
      expect((await runCli(['rollback', '--config', cfg])).code).toBe(0);
      expect(await configGet(raw, 'hz')).toBe('10');
    } finally {
      raw.disconnect();
      await server.stop();
    }
  }, 90_000);

  it('the daemon: a pass against the stopped server fails, /readyz says why, and SIGTERM with rollback-on-exit ends within its grace', async () => {
    const server = await startRedis();
    const dir = tempDir('sigstop-daemon');
    const cfg = config(
      dir,
      { host: server.host, port: server.port, commandTimeout: 2000, hz: 42, leaseTtl: 2000 },
      { shutdownGrace: 1000 },
    );
    const d = await startDaemon(['--config', cfg, '--interval', '300', '--rollback-on-exit']);
    try {
      await waitFor('the initial apply', () => d.events().some((e) => e.event === 'initial-apply'));
      server.process.kill('SIGSTOP');
      await waitFor('a failed pass', async () => {
        const r = await probe(d.port, '/readyz');
        return r.status === 503 && /did not answer/.test(r.body);
      });
      // Send SIGTERM while a pass is waiting on the stopped server.
      await waitFor(
        'a pass to start',
        () =>
          d.events().filter((e) => e.event === 'verify' || e.event === 'pass-failed' || e.event === 'repair').length >
          0,
      );
      const started = Date.now();
      d.child.kill('SIGTERM');
      const { code } = await exited(d.child);
      const ms = Date.now() - started;
      console.log(`daemon shutdown against a stopped Redis: ${ms} ms (shutdownGrace 1000, commandTimeout 2000)`);
      expect(ms).toBeLessThan(20_000);
      expect(code).toBe(1);
      const events = d.events();
      expect(events.find((e) => e.event === 'rollback')).toMatchObject({
        failed: [expect.objectContaining({ store: 'redis', code: 'TITAN_PERF_REDIS_TIMEOUT' })],
      });
      expect(events.find((e) => e.event === 'stopped')).toMatchObject({ code: 1 });
    } finally {
      server.process.kill('SIGCONT');
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
    // Once the server answers again, a rollback from a new process puts the original back.
    const r = await runCli(['rollback', '--config', cfg]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const raw = rawClient(server);
    try {
      expect(await configGet(raw, 'hz')).toBe('10');
    } finally {
      raw.disconnect();
      await server.stop();
    }
  }, 120_000);
});
