/**
 * Real HTTP and HTTPS servers on port 0 for the fetch and http-agent tests:
 * the routes every scenario needs (echo, redirects, gzip, brotli, streams, a
 * response that never ends) and a count of accepted TCP connections, which is
 * how the tests observe the pool size a client really used.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

export interface TestServer {
  url: string;
  connections(): number;
  resetConnections(): void;
}

const sockets = new Set<import('node:net').Socket>();

function handler(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/text':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-test': 'a' });
        return void res.end('hello from the server');
      case '/echo':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            method: req.method,
            contentLength: req.headers['content-length'] ?? null,
            transferEncoding: req.headers['transfer-encoding'] ?? null,
            contentType: req.headers['content-type'] ?? null,
            custom: req.headers['x-custom'] ?? null,
            body,
          }),
        );
      case '/headers': {
        const { host: _host, ...rest } = req.headers;
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(rest));
      }
      case '/redirect':
        res.writeHead(302, { location: '/text' });
        return void res.end();
      case '/redirect-307':
        res.writeHead(307, { location: '/echo' });
        return void res.end();
      case '/redirect-loop':
        res.writeHead(302, { location: '/redirect-loop' });
        return void res.end();
      case '/gzip':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        return void res.end(gzipSync(Buffer.from('gzip body '.repeat(200))));
      case '/br':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'br' });
        return void res.end(brotliCompressSync(Buffer.from('brotli body '.repeat(200))));
      case '/stream': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const next = () => {
          if (i === 5) return void res.end();
          res.write(`chunk-${i++};`);
          setTimeout(next, 20);
        };
        return next();
      }
      case '/slow':
        // Holds each response so concurrent requests need concurrent connections.
        setTimeout(
          () => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('slow');
          },
          Number(url.searchParams.get('ms') ?? 150),
        );
        return;
      case '/hang-body':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part;');
        return; // never ends: the client aborts
      case '/hang':
        return; // no response at all: the client aborts
      default:
        res.writeHead(404);
        res.end('not found');
    }
  });
}

function track(server: Server): TestServer & { listen(): Promise<void>; close(): void } {
  let count = 0;
  server.on('connection', (s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', () => {});
  return {
    url: '',
    connections: () => count,
    resetConnections: () => {
      count = 0;
    },
    listen() {
      return new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    },
    close() {
      server.close();
    },
  };
}

export interface Servers {
  http: TestServer;
  https: TestServer;
  /** PEM of the self-signed certificate (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  close(): void;
}

/** A throwaway self-signed certificate for 127.0.0.1, made fresh per run; the checked-in test-only pair where openssl is missing. */
function certificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'titan-perf-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return { key, cert };
  } catch {
    const fixed = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
    return { key: join(fixed, 'key.pem'), cert: join(fixed, 'cert.pem') };
  }
}

export async function startServers(): Promise<Servers> {
  const { key, cert } = certificate();
  const httpServer = createHttp({ keepAliveTimeout: 30_000 }, handler);
  const httpsServer = createHttps(
    { key: readFileSync(key), cert: readFileSync(cert), keepAliveTimeout: 30_000 },
    handler,
  );
  const h = track(httpServer);
  const s = track(httpsServer);
  await h.listen();
  await s.listen();
  h.url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  s.url = `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`;
  return {
    http: h,
    https: s,
    caFile: cert,
    close() {
      for (const sock of sockets) sock.destroy();
      h.close();
      s.close();
    },
  };
}
