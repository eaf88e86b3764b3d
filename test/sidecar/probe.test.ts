/**
 * The daemon's probe listener under hostile and broken clients: odd request
 * targets, other methods, huge headers, slow and idle connections, and random
 * bytes (fast-check, against the real daemon on a loopback port). None of
 * them may throw out of the handler, stop the daemon or use up its file
 * descriptors. An uncaught fault in the daemon still rolls back when
 * rollback-on-exit is configured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEvents, probe, rawRequest, startDaemon, type Daemon } from './daemon-support';
import {
  baseConfig,
  collect,
  exited,
  fakeProcRoot,
  readFakeSysctl,
  startCli,
  tempDir,
  waitFor,
  writeJson,
} from './support';

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGKILL');
      await exited(d.child);
    }
  }
});

/** A daemon with no store to manage: only its listener is under test. */
async function bareDaemon(wrap?: string[]): Promise<Daemon> {
  const dir = tempDir('probe');
  const config = writeJson(dir, 'config.json', { redis: { enabled: false }, system: { enabled: false } });
  const args = ['--config', config, '--state-dir', join(dir, 'state'), '--interval', '1000'];
  const d = await startDaemon(args, { wrap });
  running.push(d);
  await waitFor('the first pass', () => d.events().some((e) => e.event === 'initial-apply'));
  return d;
}

function alive(d: Daemon): boolean {
  return d.child.exitCode === null && d.child.signalCode === null;
}

describe('probe listener: hostile requests', () => {
  it('odd targets, other methods and huge headers get a 4xx and the daemon keeps serving', async () => {
    const d = await bareDaemon();
    const cases: [string, RegExp][] = [
      [`GET //x:${d.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 4\d\d /],
      ['GET //[::1 HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 4\d\d /],
      ['GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET * HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 4\d\d /],
      ['POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc', /^HTTP\/1\.1 405 /],
      ['DELETE /readyz HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 405 /],
      ['GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 404 /],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
      [`GET /${'%'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 4\d\d /],
      ['\x00\x01\x02garbage\r\n\r\n', /^HTTP\/1\.1 400 /],
    ];
    for (const [bytes, status] of cases) {
      const r = await rawRequest(d.port, bytes);
      expect(alive(d), `daemon died after ${JSON.stringify(bytes.slice(0, 40))}: ${d.err()}`).toBe(true);
      expect(r.reply, JSON.stringify(bytes.slice(0, 40))).toMatch(status);
    }
    // A query string and HEAD are what probes may send.
    expect((await probe(d.port, '/healthz?verbose=1')).status).toBe(200);
    expect((await rawRequest(d.port, 'HEAD /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).reply).toMatch(
      /^HTTP\/1\.1 200 /,
    );
    expect((await probe(d.port, '/healthz')).status).toBe(200);
    expect(d.err()).not.toMatch(/TypeError|Invalid URL/);
  });

  it('300 idle connections under a 256 descriptor limit: open descriptors stay bounded and /healthz answers', async () => {
    const d = await bareDaemon(['prlimit', '--nofile=256:256']);
    // prlimit execs the daemon: the child's pid is the daemon's, with the lowered limit.
    const pid = d.child.pid!;
    expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/Max open files\s+256\s+256/);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const s = connect(d.port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
      }
      await waitFor('the connections to be attempted', () => sockets.every((s) => !s.connecting));
      const opened = Date.now();
      let maxFds = 0;
      // Idle connections are dropped by the header timeout; until then the cap keeps descriptors free.
      await waitFor(
        '/healthz to answer while idle connections are held open',
        async () => {
          maxFds = Math.max(maxFds, readdirSync(`/proc/${pid}/fd`).length);
          return (await probe(d.port, '/healthz').catch(() => ({ status: 0 }))).status === 200;
        },
        40_000,
      );
      expect(alive(d)).toBe(true);
      expect(maxFds).toBeLessThan(200);
      console.log(
        `300 idle connections: at most ${maxFds} open descriptors seen, /healthz 200 after ${Date.now() - opened} ms`,
      );
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('a slowloris client (one header byte every 300 ms) is disconnected by the server', async () => {
    const d = await bareDaemon();
    const started = Date.now();
    const closed = await new Promise<number>((resolve) => {
      const s = connect(d.port, '127.0.0.1');
      s.on('error', () => {});
      const bytes = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(10_000);
      let i = 0;
      const t = setInterval(() => {
        if (!s.destroyed && s.writable) s.write(bytes[i++ % bytes.length]);
      }, 300);
      s.on('close', () => {
        clearInterval(t);
        resolve(Date.now() - started);
      });
      // The test's own bound: if the server never closes it, fail instead of hanging.
      setTimeout(() => s.destroy(), 45_000).unref();
    });
    expect(closed).toBeLessThan(30_000);
    console.log(`slowloris client disconnected by the server after ${closed} ms`);
    expect(alive(d)).toBe(true);
    expect((await probe(d.port, '/healthz')).status).toBe(200);
  });

  it('fast-check: any request bytes never kill the daemon, and every reply is a bounded HTTP response', async () => {
    const d = await bareDaemon();
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
    const target = fc.oneof(
      fc.constantFrom(
        '/healthz',
        '/readyz',
        '/',
        '//',
        '*',
        `//x:${d.port}/`,
        'http://probe/healthz',
        '/healthz?a=b#c',
        '/%00',
        '/..%2f..',
      ),
      fc.string({ maxLength: 200 }),
      // Protocol-relative and bracketed forms are what made URL parsing throw.
      fc.string({ maxLength: 60 }).map((x) => `//${x}`),
      fc.string({ maxLength: 30 }).map((x) => `//[${x}`),
      fc.webUrl(),
      fc.webPath(),
    );
    const header = fc.tuple(token, fc.string({ maxLength: 300 })).map(([k, v]) => `${k}: ${v}\r\n`);
    const structured = fc
      .tuple(
        fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'TRACE', 'PRI'), token),
        target,
        fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', ''),
        fc.array(header, { maxLength: 8 }),
        fc.string({ maxLength: 200 }),
      )
      .map(([m, t, v, hs, body]) => Buffer.from(`${m} ${t} ${v}\r\n${hs.join('')}\r\n${body}`, 'latin1'));
    const random = fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a));
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(structured, random), async (bytes) => {
        const r = await rawRequest(d.port, bytes, 8000);
        if (!alive(d)) throw new Error(`daemon died: ${d.err()}`);
        if (r.reply) {
          replies++;
          expect(r.reply).toMatch(/^HTTP\/1\.[01] \d{3} /);
          expect(r.reply.length).toBeLessThan(8192);
        }
      }),
      { numRuns: 200, interruptAfterTimeLimit: 40_000 },
    );
    expect(replies).toBeGreaterThan(0);
    expect((await probe(d.port, '/healthz')).status).toBe(200);
    expect(d.err()).not.toMatch(/TypeError|Invalid URL|Uncaught/);
  }, 90_000);
});

describe('daemon: an uncaught fault', () => {
  it('with rollback-on-exit restores the originals and exits 1', async () => {
    const values = { 'net.core.somaxconn': '128', 'net.ipv4.tcp_fin_timeout': '60' };
    const root = fakeProcRoot(values);
    const dir = tempDir('fault');
    const config = writeJson(dir, 'config.json', baseConfig());
    // Not startDaemon: the daemon may fault and exit before a poll sees its `listening` line.
    const child = startCli(
      [
        'run',
        '--listen',
        '127.0.0.1:0',
        '--config',
        config,
        '--state-dir',
        join(dir, 'state'),
        '--proc-root',
        root,
        '--interval',
        '60000',
        '--rollback-on-exit',
      ],
      {
        env: { TITAN_PERF_TEST_FAULT_AFTER_FIRST_PASS: '1' },
      },
    );
    const io = collect(child);
    const { code } = await exited(child);
    const events = parseEvents(io.out());
    expect(
      events.find((e) => e.event === 'initial-apply'),
      io.err(),
    ).toBeDefined();
    expect(events.find((e) => e.event === 'fault')).toMatchObject({
      level: 'error',
      error: expect.stringContaining('test fault'),
    });
    expect(events.find((e) => e.event === 'rollback')).toMatchObject({ failed: [] });
    for (const [k, v] of Object.entries(values)) expect(readFakeSysctl(root, k)).toBe(v);
    expect(code).toBe(1);
  });
});
