// A throwaway redis-server on a free loopback port, for the sidecar's
// "with Redis round trips" measurements. No persistence: nothing to clean but a dir.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep, stop } from './proc.mjs';

function ping(port) {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(1000);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      sock.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'titan-bench-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const until = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > until) {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not answer PING on 127.0.0.1:${port}`);
    }
    await sleep(50);
  }
  return {
    port,
    async stop() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
