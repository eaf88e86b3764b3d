/**
 * Failures of the Redis part, each with a stable code. Messages name the
 * server by host:port only: never a URL (it may carry credentials) and never
 * a password.
 */
import { TitanPerfError } from '../errors';

export const REDIS_ERROR_CODES = {
  unreachable: 'TITAN_PERF_REDIS_UNREACHABLE',
  auth: 'TITAN_PERF_REDIS_AUTH',
  passwordMissing: 'TITAN_PERF_REDIS_PASSWORD_MISSING',
  badUrl: 'TITAN_PERF_REDIS_URL_INVALID',
  tls: 'TITAN_PERF_REDIS_TLS',
  configBlocked: 'TITAN_PERF_REDIS_CONFIG_BLOCKED',
  immutable: 'TITAN_PERF_REDIS_IMMUTABLE',
  unmanaged: 'TITAN_PERF_REDIS_UNMANAGED_KEY',
  maxmemoryGuard: 'TITAN_PERF_REDIS_MAXMEMORY_GUARD',
  leaseHeld: 'TITAN_PERF_REDIS_LEASE_HELD',
  readBack: 'TITAN_PERF_REDIS_READ_BACK',
  rewrite: 'TITAN_PERF_REDIS_REWRITE',
  command: 'TITAN_PERF_REDIS_COMMAND',
  timeout: 'TITAN_PERF_REDIS_TIMEOUT',
  outOfMemory: 'TITAN_PERF_REDIS_OOM',
} as const;

export class RedisError extends TitanPerfError {
  constructor(
    code: (typeof REDIS_ERROR_CODES)[keyof typeof REDIS_ERROR_CODES],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'RedisError';
  }
}

/** Replies that mean "this client may not run CONFIG": renamed/disabled (`unknown command`) or denied by ACL (`NOPERM`). */
export function isConfigBlocked(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /unknown command|NOPERM|no permissions|not allowed|unknown subcommand/i.test(msg);
}

/** ioredis's rejection when a command outlived `commandTimeout`. */
export function isTimeout(err: unknown): boolean {
  return /^Command timed out\b|Ready check failed: Command timed out/.test(String((err as Error)?.message ?? err));
}

/** A write refused because the server is at maxmemory with noeviction (OOM), also inside a discarded MULTI. */
export function isOutOfMemory(err: unknown): boolean {
  const e = err as { message?: string; previousErrors?: { message?: string }[] } | undefined;
  if (/^OOM\b/.test(String(e?.message ?? err))) return true;
  return (
    /^EXECABORT/.test(String(e?.message)) && (e?.previousErrors ?? []).some((p) => /^OOM\b/.test(String(p?.message)))
  );
}

/**
 * The clear, coded form of a command failure that has nothing to do with the
 * command itself (a frozen or full server); other errors are returned as they are.
 */
export function describeCommandError(err: unknown, label: string, commandTimeout: number, what: string): unknown {
  if (err instanceof RedisError) return err;
  if (isTimeout(err))
    return new RedisError(
      REDIS_ERROR_CODES.timeout,
      `Redis at ${label} did not answer ${what} within ${commandTimeout} ms (redis.commandTimeout): the server accepts connections but does not reply ` +
        '(stopped, swapping, or busy with a long command); check it, or raise redis.commandTimeout if it is only slow',
    );
  if (isOutOfMemory(err))
    return new RedisError(
      REDIS_ERROR_CODES.outOfMemory,
      `Redis at ${label} refused ${what}: it is out of memory (used memory above maxmemory with maxmemory-policy noeviction), ` +
        'so titan-perf cannot record the original values there and changed none of its settings. Free memory, raise maxmemory ' +
        '(CONFIG SET maxmemory) or choose an evicting maxmemory-policy, then apply again',
    );
  return err;
}

export function isAuthFailure(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /WRONGPASS|NOAUTH|invalid password|invalid username-password|user is disabled/i.test(msg);
}

/** The first line of a server or socket error, with anything that looks like a credential cut out. */
export function errorSummary(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const text = String(e?.code && !String(e.message).includes(e.code) ? `${e.code} ${e.message}` : (e?.message ?? err));
  return text.split('\n')[0].replace(/\/\/[^/\s]*@/g, '//[redacted]@');
}
