/**
 * A real `redis-server` for tests: a random free loopback port, its own temp
 * dir (data, config file, TLS material), stopped and removed by `stop()`
 * (and killed at process exit if a test forgot).
 *
 *   const redis = await startRedis({ password: 's3cret', maxmemory: '64mb' });
 *   // redis.host, redis.port, redis.configPath, redis.password
 *   await redis.stop();
 *
 * Options cover what the Redis tests need and what the library API's tests
 * are likely to: requirepass, ACL users, CONFIG renamed or disabled (managed
 * services), no config file at all (CONFIG REWRITE impossible), TLS with a
 * committed throw-away self-signed certificate, extra redis.conf lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisAclUser {
  name: string;
  password: string;
  /** ACL rules after `on >password`, e.g. `~* &* +@all` or `~* +@read -config`. */
  rules: string;
}

export interface RedisServerOptions {
  /** A fixed loopback port (e.g. to bring a server "back" where a client expects it); default: a random free one. */
  port?: number;
  /** `requirepass`: the default user's password. */
  password?: string;
  /** Extra ACL users (each line `user NAME on >PASSWORD RULES`). */
  users?: RedisAclUser[];
  /** `true`: CONFIG disabled (`rename-command CONFIG ""`); a string: CONFIG renamed to it. */
  renameConfig?: boolean | string;
  /** `maxmemory` at start, e.g. `64mb`. */
  maxmemory?: string;
  /** Start from command-line options only, as some images do: CONFIG REWRITE then fails. Default: a config file. */
  noConfigFile?: boolean;
  /** Serve TLS only (tls-port), with the committed test certificate for 127.0.0.1; `tlsCaFile` is the file clients trust. */
  tls?: boolean;
  /** More redis.conf lines (`name value`). */
  extra?: string[];
}

export interface RedisServer {
  host: string;
  port: number;
  dir: string;
  /** The redis.conf the server started from (undefined with noConfigFile). */
  configPath?: string;
  password?: string;
  /** The CA to trust with `tls` (the self-signed certificate itself). */
  tlsCaFile?: string;
  process: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A throw-away self-signed certificate for 127.0.0.1/localhost, valid until
 * 2126, committed so tests need no openssl binary (a fresh Debian may lack
 * it). Its key protects nothing: never use it outside tests.
 */
const TEST_TLS = {
  cert: join(__dirname, '..', 'fixtures', 'redis-tls', 'cert.pem'),
  key: join(__dirname, '..', 'fixtures', 'redis-tls', 'key.pem'),
};

function directives(
  port: number,
  dir: string,
  opts: RedisServerOptions,
  tls?: { cert: string; key: string },
): string[][] {
  const d: string[][] = [
    ['bind', '127.0.0.1'],
    ['dir', dir],
    ['daemonize', 'no'],
    ['logfile', '""'],
    // No snapshots unless a test asks: they would fork while other tests measure.
    ['save', '""'],
    ['appendonly', 'no'],
  ];
  if (tls)
    d.push(
      ['port', '0'],
      ['tls-port', String(port)],
      ['tls-cert-file', tls.cert],
      ['tls-key-file', tls.key],
      ['tls-auth-clients', 'no'],
    );
  else d.push(['port', String(port)]);
  if (opts.password) d.push(['requirepass', opts.password]);
  if (opts.maxmemory) d.push(['maxmemory', opts.maxmemory]);
  for (const u of opts.users ?? [])
    d.push(['user', u.name, 'on', `>${u.password}`, ...u.rules.split(/\s+/).filter(Boolean)]);
  if (opts.renameConfig) d.push(['rename-command', 'CONFIG', opts.renameConfig === true ? '""' : opts.renameConfig]);
  for (const line of opts.extra ?? []) d.push(line.split(/\s+/));
  return d;
}

async function startOnce(opts: RedisServerOptions): Promise<RedisServer | 'port-taken'> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'titan-perf-redis-'));
  const tls = opts.tls ? TEST_TLS : undefined;
  const lines = directives(port, dir, opts, tls);
  let args: string[];
  let configPath: string | undefined;
  if (opts.noConfigFile) {
    args = lines.flatMap(([name, ...values]) => [`--${name}`, ...values.map((x) => (x === '""' ? '' : x))]);
  } else {
    configPath = join(dir, 'redis.conf');
    writeFileSync(configPath, lines.map((l) => l.join(' ')).join('\n') + '\n', { mode: 0o600 });
    args = [configPath];
  }
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  // Poll the server's own log instead of sleeping: it says when it accepts connections.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (/Ready to accept connections/.test(out)) {
      return {
        host: '127.0.0.1',
        port,
        dir,
        configPath,
        password: opts.password,
        tlsCaFile: tls?.cert,
        process: child,
        output: () => out,
        stop,
      };
    }
    if (child.exitCode !== null) {
      await stop();
      if (/Address already in use/i.test(out)) return 'port-taken';
      throw new Error(`redis-server exited (${child.exitCode}) before it was ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await stop();
  throw new Error(`redis-server was not ready after 30 s:\n${out}`);
}

export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  // Another test may grab the free port between our probe and redis-server's bind: try a few.
  for (let i = 0; i < 5; i++) {
    const r = await startOnce(opts);
    if (r !== 'port-taken') return r;
    if (opts.port) throw new Error(`redis-server: port ${opts.port} is taken`);
  }
  throw new Error('redis-server: no free loopback port after 5 attempts');
}
