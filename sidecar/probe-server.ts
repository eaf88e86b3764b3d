/**
 * The daemon's probe listener (/healthz, /readyz), built to survive whatever
 * reaches its port: anything in the pod's network namespace (the whole
 * cluster with a 0.0.0.0 listener) can connect. Only GET and HEAD of
 * origin-form paths are answered; request targets are never parsed as URLs;
 * headers, request time, idle time and open connections are bounded so that
 * idle or slow clients cannot use up the daemon's file descriptors; replies
 * are small and bounded; a fault in the handler becomes a 500, never an
 * exception out of the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type ProbeHandler = (path: string) => [number, unknown];

/** The limits, chosen for a kubelet probe: one small GET every few seconds, answered in microseconds. */
export const PROBE_LIMITS = {
  /** Open connections at once; more are closed on accept (kubelet needs one or two). */
  maxConnections: 64,
  /** Bytes of request line plus headers; larger gets 431. */
  maxHeaderSize: 8192,
  /** ms to receive the whole header block (slowloris); then 408 and close. */
  headersTimeout: 5000,
  /** ms for a whole request. */
  requestTimeout: 10_000,
  /** ms an idle keep-alive connection stays open. */
  keepAliveTimeout: 5000,
  /** ms without any traffic before a socket is destroyed. */
  socketTimeout: 15_000,
  /** Largest reply body, bytes. */
  maxBody: 2048,
} as const;

const KNOWN_METHODS = new Set(['GET', 'HEAD']);

export function startProbeServer(
  host: string,
  port: number,
  handle: ProbeHandler,
  onError: (message: string) => void,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(
      {
        maxHeaderSize: PROBE_LIMITS.maxHeaderSize,
        headersTimeout: PROBE_LIMITS.headersTimeout,
        requestTimeout: PROBE_LIMITS.requestTimeout,
        keepAliveTimeout: PROBE_LIMITS.keepAliveTimeout,
        // Node checks the two timeouts above on this interval (30 s by default, which would let idle sockets pile up).
        connectionsCheckingInterval: 1000,
      },
      (req, res) => serve(req, res, handle, onError),
    );
    server.maxConnections = PROBE_LIMITS.maxConnections;
    server.setTimeout(PROBE_LIMITS.socketTimeout, (socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // After listening, an error (EMFILE on accept) must be reported, not thrown as an unhandled 'error' event.
      server.on('error', (err) => onError(`probe listener: ${(err as Error).message}`));
      resolve(server);
    });
  });
}

function serve(
  req: IncomingMessage,
  res: ServerResponse,
  handle: ProbeHandler,
  onError: (message: string) => void,
): void {
  try {
    // A body is never read: discard it so the connection can finish.
    req.resume();
    const target = req.url ?? '';
    if (!target.startsWith('/')) {
      reply(req, res, 400, { error: 'bad request target: origin-form paths only' });
      return;
    }
    const path = target.split(/[?#]/, 1)[0];
    const [status, body] = handle(path);
    if (status === 404) {
      reply(req, res, 404, body);
      return;
    }
    if (!KNOWN_METHODS.has(req.method ?? '')) {
      reply(req, res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      return;
    }
    reply(req, res, status, body);
  } catch (err) {
    onError(`probe handler: ${(err as Error)?.message ?? String(err)}`);
    try {
      reply(req, res, 500, { error: 'internal error' });
    } catch {
      res.destroy();
    }
  }
}

function reply(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  let text = JSON.stringify(body) ?? 'null';
  if (Buffer.byteLength(text) > PROBE_LIMITS.maxBody)
    text = JSON.stringify({ status, truncated: true, head: text.slice(0, PROBE_LIMITS.maxBody / 2) });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}
