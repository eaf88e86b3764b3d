/**
 * Connection pooling is often expected to apply to WebSocket connections
 * too. What that really means for Node's built-in WebSocket client,
 * shown against a hand-written RFC 6455 server: the opening handshake goes
 * through fetch's global dispatcher, so the tuned Agent's timeouts apply to
 * it; but each WebSocket is its own upgraded TCP connection that leaves the
 * pool, so maxConnections neither limits nor reuses WebSockets.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/paths';

const FIXTURE = join(FIXTURES, 'websocket.cjs');

describe('WebSocket and the tuned dispatcher', () => {
  it('the handshake meets the tuned timeouts; the sockets themselves are not pooled or limited', async () => {
    const out = await new Promise<Record<string, unknown>>((resolve, reject) => {
      execFile(
        process.execPath,
        [FIXTURE],
        { timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
        (err, stdout, stderr) => {
          const line = stdout.trim().split('\n').at(-1);
          if (!line) return reject(new Error(`no output (${err?.message}):\n${stderr}`));
          resolve(JSON.parse(line));
        },
      );
    });
    expect(out.crashed).toBeUndefined();
    expect(out.fetchState).toBe('tuned');
    expect(out.sameDispatcher).toBe(true);
    // headersTimeout 300 ms (tuned) fails a handshake the server never answers, long before the
    // server gives up at 5 s; Node's untuned default would wait 300 s.
    const slow = out.slow as { opened: boolean; ms: number };
    expect(slow.opened).toBe(false);
    expect(slow.ms).toBeLessThan(4000);
    // maxConnections is 2, yet three WebSockets open at once, each on its own connection...
    expect([...(out.opened as string[])].sort()).toEqual(['hello 1', 'hello 2', 'hello 3']);
    expect(out.distinctSockets).toBe(3);
    // ...and once upgraded they are no longer the pool's: it counts none of them.
    for (const p of out.poolsAfterUpgrade as { connected: number }[]) expect(p.connected).toBe(0);
  });
});
