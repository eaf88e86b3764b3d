/** Shared by the Redis tests: a `redis` config section pointing at a test server, and a plain client for checking from outside the store. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { DEFAULT_PERFORMANCE_CONFIG, type RedisConfig } from '../../dist/src/index.js';
import type { RedisServer } from '../helpers/redis-server';
import { FIXTURES } from '../helpers/paths';

export function configFor(server: RedisServer, overrides: Partial<RedisConfig> = {}): RedisConfig {
  // The server's address wins over the overrides, so a whole profile's section can be passed in.
  return {
    ...DEFAULT_PERFORMANCE_CONFIG.redis,
    connectRetries: 1,
    ...overrides,
    host: server.host,
    port: server.port,
  };
}

/** A client the test uses to look at the server directly (not through the code under test). */
export function rawClient(server: RedisServer, extra: Record<string, unknown> = {}): IORedis {
  return new IORedis({
    host: server.host,
    port: server.port,
    password: server.password,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    ...extra,
  });
}

export async function configGet(client: IORedis, key: string): Promise<string> {
  const [, value] = (await client.config('GET', key)) as string[];
  return value;
}

/**
 * Runs fixtures/sidecar-like.cjs (the store used as the sidecar uses it) on
 * the current Node, and returns everything it printed and its exit code.
 * `env` may set TITAN_TEST_WRITE (an hz value to apply and roll back) and
 * TITAN_TEST_NO_CLOSE (skip close(), to prove nothing keeps the process alive).
 */
export function runSidecarLike(
  config: RedisConfig,
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(FIXTURES, 'sidecar-like.cjs')], {
      env: { ...process.env, TITAN_TEST_CONFIG: JSON.stringify(config), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('exit', (code) => resolve({ code, out, ms: Date.now() - started }));
  });
}

/** Extra environment for a sidecar CLI run (merged over the test process's own by the runners). */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra };
}
