/**
 * One ioredis client from the `redis` config section: credentials from a
 * mounted file, an environment variable or the URL (never from a literal in
 * the config, so they never reach a config dump), ACL user, TLS, and a
 * bounded reconnect policy so an unreachable server ends in a clear error
 * instead of a loop that keeps the process alive forever.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/types';
import { requireOptional } from '../optional-package';
import { readTrustedFile } from '../trusted-files';
import { isAuthFailure, isTimeout, errorSummary, REDIS_ERROR_CODES, RedisError } from './redis-errors';

export interface RedisTarget {
  host: string;
  port: number;
  /** `host:port`, the only way the server is named in messages. */
  label: string;
  options: RedisOptions;
}

export interface ConnectOptions {
  /** Where `passwordEnv` is looked up; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Name shown in CLIENT LIST, so operators can tell the sidecar's connection apart. */
  connectionName?: string;
}

/** Back-off between reconnect attempts: 100 ms doubling, capped at 2 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 2000);
}

/** `host:port` of the configured server, for messages (never the URL: it may carry credentials). */
export function redisLabel(config: RedisConfig): string {
  if (config.url) {
    try {
      const u = new URL(config.url);
      return `${u.hostname.replace(/^\[|\]$/g, '') || config.host}:${u.port || config.port}`;
    } catch {
      // An invalid URL fails at connect with its own message.
    }
  }
  return `${config.host}:${config.port}`;
}

export function redisTarget(config: RedisConfig, opts: ConnectOptions = {}): RedisTarget {
  const env = opts.env ?? process.env;
  let host = config.host;
  let port = config.port;
  let username = config.username;
  let password: string | undefined;
  let db = 0;
  let tls = config.tls;
  if (config.url) {
    let u: URL;
    try {
      u = new URL(config.url);
    } catch {
      // Not rethrown: Node's error keeps the whole URL, credentials included, in `input`.
      throw new RedisError(
        REDIS_ERROR_CODES.badUrl,
        'redis.url is not a valid URL (redis://[user:password@]host:port[/db]); the value is not shown because it may hold credentials',
      );
    }
    host = u.hostname.replace(/^\[|\]$/g, '') || host;
    if (u.port) port = Number(u.port);
    if (u.username) username = decodeURIComponent(u.username);
    if (u.password) password = decodeURIComponent(u.password);
    const dbText = u.pathname.replace(/^\//, '');
    if (dbText) db = Number(dbText);
    if (u.protocol === 'rediss:') tls = true;
  }
  const label = `${host}:${port}`;
  if (config.passwordEnv) {
    const fromEnv = env[config.passwordEnv];
    if (fromEnv === undefined || fromEnv === '')
      throw new RedisError(
        REDIS_ERROR_CODES.passwordMissing,
        `redis.passwordEnv names the environment variable ${config.passwordEnv}, which is not set (or empty); set it to the Redis password or remove redis.passwordEnv`,
      );
    password = fromEnv;
  }
  if (config.passwordFile) {
    try {
      // Symlinks followed (a mounted secret is one); a FIFO or /dev/zero is refused, not waited on or read forever.
      const read = readTrustedFile(config.passwordFile, {
        what: 'redis.passwordFile',
        maxBytes: 64 * 1024,
        code: 'ENOTREGULAR',
      });
      if (read === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      // A mounted secret usually ends in a newline that is not part of the password.
      password = read.text.replace(/\r?\n$/, '');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new RedisError(
        REDIS_ERROR_CODES.passwordMissing,
        `redis.passwordFile ${config.passwordFile} cannot be read (${e.code === 'ENOTREGULAR' ? e.message : (e.code ?? 'error')}); mount the secret there or fix the path`,
      );
    }
  }
  let tlsOptions: RedisOptions['tls'];
  if (tls) {
    tlsOptions = { servername: /^[\d.:]+$/.test(host) ? undefined : host };
    if (config.tlsCaFile) {
      try {
        const read = readTrustedFile(config.tlsCaFile, {
          what: 'redis.tlsCaFile',
          maxBytes: 4 * 1024 * 1024,
          code: 'ENOTREGULAR',
        });
        if (read === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        tlsOptions.ca = read.text;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new RedisError(
          REDIS_ERROR_CODES.tls,
          `redis.tlsCaFile ${config.tlsCaFile} cannot be read (${e.code === 'ENOTREGULAR' ? e.message : (e.code ?? 'error')})`,
        );
      }
    }
  }
  const retries = config.connectRetries;
  return {
    host,
    port,
    label,
    options: {
      host,
      port,
      username,
      password,
      db,
      tls: tlsOptions,
      connectTimeout: config.connectTimeout,
      // Every command, the handshake's too, fails after this long instead of waiting on a server that never replies.
      commandTimeout: config.commandTimeout,
      connectionName: opts.connectionName ?? 'titan-perf',
      lazyConnect: true,
      // A command waits through at most one reconnect cycle, then fails instead of hanging.
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => (times > retries ? null : reconnectDelay(times)),
      // CLIENT SETINFO is 7.2+; older servers answer with an error we would only have to ignore.
      disableClientInfo: true,
    },
  };
}

/**
 * Connects and waits for the server to be ready. Rejects with
 * TITAN_PERF_REDIS_UNREACHABLE once the bounded retries are spent, or at once
 * with TITAN_PERF_REDIS_AUTH when the server refuses the credentials
 * (retrying a wrong password only locks accounts and fills logs).
 */
export async function connectRedis(config: RedisConfig, opts: ConnectOptions = {}): Promise<Redis> {
  const target = redisTarget(config, opts);
  const { default: IORedis } = requireOptional<typeof import('ioredis')>('ioredis', 'Redis (redis.enabled)', () =>
    require('ioredis'),
  );
  const client = new IORedis(target.options);
  let lastError: unknown;
  let authError: unknown;
  let attempts = 0;
  // Without a listener ioredis would re-emit every socket error as an unhandled 'error' event.
  client.on('error', (err) => {
    lastError = err;
    if (isAuthFailure(err)) {
      authError = err;
      client.disconnect();
    }
  });
  client.on('connecting', () => attempts++);
  // The handshake (CLIENT SETNAME, then INFO as the ready check) runs one command after the other, each with its
  // own timeout: bound the whole of it by one commandTimeout per attempt, then drop the socket (the retry policy decides).
  let handshake: NodeJS.Timeout | undefined;
  let handshakeTimedOut = false;
  const clearHandshake = () => clearTimeout(handshake);
  client.on('connect', () => {
    clearHandshake();
    handshake = setTimeout(() => {
      handshakeTimedOut = true;
      (client as unknown as { stream?: { destroy(): void } }).stream?.destroy();
    }, config.commandTimeout);
    handshake.unref();
  });
  client.on('close', clearHandshake);
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearHandshake();
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      client.off('ready', onReady);
      if (authError) {
        // No `cause`: ioredis attaches the AUTH command with its arguments (the password) to the reply error.
        const who = target.options.username ? `user '${target.options.username}'` : 'the default user';
        reject(
          new RedisError(
            REDIS_ERROR_CODES.auth,
            `Redis at ${target.label} refused the credentials for ${who} (${errorSummary(authError).split(' ')[0]}); check redis.username and the password in redis.passwordEnv / redis.passwordFile / redis.url`,
          ),
        );
        return;
      }
      if (handshakeTimedOut || isTimeout(lastError)) {
        reject(
          new RedisError(
            REDIS_ERROR_CODES.timeout,
            `Redis at ${target.label} accepted the connection but did not answer within ${config.commandTimeout} ms (redis.commandTimeout), ${Math.max(attempts, 1)} attempt(s): ` +
              'the server is stopped, swapping, busy with a long command, or not Redis; check it, or raise redis.commandTimeout if it is only slow',
          ),
        );
        return;
      }
      const summary = lastError ? errorSummary(lastError) : 'connection closed';
      const tlsHint = /SSL|TLS|certificate|self.signed|wrong version/i.test(summary)
        ? ' (a TLS problem: check redis.tls, redis.tlsCaFile and that the port speaks TLS)'
        : '';
      reject(
        new RedisError(
          tlsHint ? REDIS_ERROR_CODES.tls : REDIS_ERROR_CODES.unreachable,
          `cannot reach Redis at ${target.label} after ${Math.max(attempts, 1)} attempt(s) (${summary})${tlsHint}; check redis.host / redis.port (or redis.url), that the server runs and is reachable from here; redis.connectRetries=${config.connectRetries}`,
          // A reply error carries its command's arguments: never pass one on.
          { cause: (lastError as { command?: unknown } | undefined)?.command ? undefined : lastError },
        ),
      );
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
    // connect() also rejects on the first failed attempt while retries go on; 'end' is the real verdict.
    client.connect().catch(() => {});
  });
  return client;
}
