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
} as const;

export class RedisError extends TitanPerfError {
  constructor(code: (typeof REDIS_ERROR_CODES)[keyof typeof REDIS_ERROR_CODES], message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RedisError';
  }
}

/** Replies that mean "this client may not run CONFIG": renamed/disabled (`unknown command`) or denied by ACL (`NOPERM`). */
export function isConfigBlocked(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /unknown command|NOPERM|no permissions|not allowed|unknown subcommand/i.test(msg);
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
