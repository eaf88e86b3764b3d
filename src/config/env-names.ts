/**
 * Which TITAN_PERF_* environment variables are configuration overrides.
 * Shared by the config loader, the preload's fast path and the sidecar CLI,
 * so a variable with a meaning of its own is never reported as an unknown
 * setting by one of them and accepted by another.
 */
export const ENV_PREFIX = 'TITAN_PERF_';

/** Variables with a meaning of their own, not config overrides. */
export const RESERVED_ENV: ReadonlySet<string> = new Set([
  'TITAN_PERF_PROFILE',
  'TITAN_PERF_CONFIG',
  'TITAN_PERF_STRICT',
  'TITAN_PERF_DISABLED',
  'TITAN_PERF_CGROUP_ROOT',
]);

/** Test-only hooks, e.g. TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL; never configuration. */
export const TEST_ENV_PREFIX = 'TITAN_PERF_TEST_';

/** Variables that choose where configuration comes from (a profile, a file). */
export const SOURCE_ENV: ReadonlySet<string> = new Set(['TITAN_PERF_PROFILE', 'TITAN_PERF_CONFIG']);

/** An override, or a variable choosing a profile or file: anything resolveConfig must look at. */
export function isConfigInput(name: string): boolean {
  return SOURCE_ENV.has(name) || isConfigEnv(name);
}

export function isConfigEnv(name: string): boolean {
  return name.startsWith(ENV_PREFIX) && !RESERVED_ENV.has(name) && !name.startsWith(TEST_ENV_PREFIX);
}
