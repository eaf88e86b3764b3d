/**
 * The sidecar daemon as a real child process for the hardening tests: started
 * with a probe listener on a free loopback port, its JSON log lines parsed as
 * they arrive, and raw TCP requests sent to the probe port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { CLI, collect, NODE, startCli, waitFor } from './support';

export interface Daemon {
  child: ChildProcess;
  port: number;
  /** Every JSON line printed on stdout so far. */
  events(): Record<string, unknown>[];
  out(): string;
  err(): string;
}

export function parseEvents(text: string): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut in the middle by the pipe: the next read completes it.
    }
  }
  return events;
}

/**
 * Starts `run` and waits for its `listening` event (the first pass may still be under way).
 * `wrap` prefixes the command line (e.g. `prlimit --nofile=256:256`).
 */
export async function startDaemon(
  args: string[],
  opts: { netns?: string; env?: Record<string, string>; wrap?: string[] } = {},
): Promise<Daemon> {
  const argv = ['run', '--listen', '127.0.0.1:0', ...args];
  const child = opts.wrap
    ? spawn(opts.wrap[0], [...opts.wrap.slice(1), NODE, CLI, ...argv], {
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : startCli(argv, opts);
  const io = collect(child);
  const events = () => parseEvents(io.out());
  const listening = await waitFor('the daemon to listen', () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited ${child.exitCode}: ${io.err()}${io.out()}`);
    return events().find((e) => e.event === 'listening');
  });
  return { child, port: listening.port as number, events, out: io.out, err: io.err };
}

/**
 * Sends raw bytes to the probe port and resolves with whatever came back once
 * the server closes the connection or `timeoutMs` passes (then the socket is
 * destroyed by the test, not the server).
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  timeoutMs = 5000,
): Promise<{ reply: string; closedByServer: boolean; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    let done = false;
    const finish = (closedByServer: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, closedByServer, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (d: Buffer) => {
      // Only the head matters, and a bounded reply is part of what is tested.
      if (reply.length < 1 << 20) reply += d.toString('latin1');
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(true, e.code ?? e.message));
  });
}

/** A plain GET of a probe path: status code and body. */
export async function probe(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}
