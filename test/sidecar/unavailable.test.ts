/**
 * One store down (Redis on a loopback port nobody listens on) must not stop
 * the others: sysctls on a fake procfs are still applied, the CLI says what
 * was not reached and exits 1, and the daemon stays up, live but not ready.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  collect,
  exited,
  fakeProcRoot,
  readFakeSysctl,
  runCli,
  startCli,
  tempDir,
  waitFor,
  writeJson,
} from './support';

/** A loopback port that was free a moment ago and has no listener now. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('an unreachable Redis next to working stores', () => {
  it('apply writes the sysctls, names Redis as not applied, exits 1; verify exits 1', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '4096' });
    const dir = tempDir('unavail');
    const config = writeJson(dir, 'config.json', {
      redis: { enabled: true, host: '127.0.0.1', port: await closedPort(), connectRetries: 0, connectTimeout: 1000 },
      system: { kernelParams: { netCoreSomaxconn: 65535 } },
    });
    const args = ['--config', config, '--state-dir', join(dir, 'state'), '--proc-root', root];
    const apply = await runCli(['apply', ...args]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(/not applied: redis: /);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');

    const verify = await runCli(['verify', '--json', ...args]);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout).unavailable).toEqual([{ store: 'redis', reason: expect.any(String) }]);
    // Redis's originals live in Redis: unreachable, so the rollback is incomplete (exit 1), but the sysctls are back.
    const rollback = await runCli(['rollback', ...args]);
    expect(rollback.code).toBe(1);
    expect(rollback.stdout).toMatch(/not restored: redis \*: cannot read its journal/);
    expect(rollback.stdout).toMatch(/restored sysctl net.core.somaxconn = 4096/);
    expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('4096');
  });

  it('the daemon keeps running: /healthz 200, /readyz 503 naming Redis', async () => {
    const root = fakeProcRoot({ 'net.core.somaxconn': '4096' });
    const dir = tempDir('unavail-daemon');
    const config = writeJson(dir, 'config.json', {
      redis: { enabled: true, host: '127.0.0.1', port: await closedPort(), connectRetries: 0, connectTimeout: 1000 },
    });
    const child = startCli([
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
    ]);
    const io = collect(child);
    try {
      const port = await waitFor('the listening line', () => {
        const line = io
          .out()
          .split('\n')
          .find((l) => l.includes('"listening"'));
        return line ? (JSON.parse(line).port as number) : undefined;
      });
      await waitFor('the initial apply', () => io.out().includes('"initial-apply"'));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).reason).toMatch(/redis/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect(readFakeSysctl(root, 'net.core.somaxconn')).toBe('65535');
      // Still alive after further passes.
      await waitFor(
        'a later verify pass',
        () =>
          io
            .out()
            .split('\n')
            .filter((l) => l.includes('"repair"') || l.includes('"verify"')).length >= 2,
      );
      expect(child.exitCode).toBe(null);
      child.kill('SIGTERM');
      expect((await exited(child)).code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
