/** The `system` section: kernel sysctls, log rotation and the sidecar daemon. */
import { SYSCTL_CATALOGUE, SYSCTL_KEY_RE, type SysctlSpec } from '../sysctl-catalogue';
import { extraSysctlRefusal } from '../sysctl-policy';
import type * as V from 'valibot';
import type { Profile } from '../types';

/**
 * Desired sysctl values by catalogue name (docs/sidecar.md lists them); `null`
 * leaves a key unmanaged. Tuples (tcp_rmem, ip_local_port_range) are lists
 * of integers. The names and value types are the catalogue's.
 */
export type KernelParamsConfig = Record<string, number | number[] | string | null>;

/** Derived from the schema, so a field is written once (plus its default); types only, valibot is not loaded. */
export type SystemConfig = Omit<V.InferOutput<ReturnType<typeof systemSchema>>, 'kernelParams'> & {
  kernelParams: KernelParamsConfig;
};
export type LogRotationConfig = SystemConfig['logRotation'];
export type DaemonConfig = SystemConfig['daemon'];

function paramsFrom(pick: (s: SysctlSpec) => SysctlSpec['default'] | undefined): KernelParamsConfig {
  const out: Record<string, number | number[] | string | null> = {};
  for (const spec of SYSCTL_CATALOGUE) {
    const value = pick(spec);
    if (value !== undefined) out[spec.param] = value;
  }
  return out as KernelParamsConfig;
}

export const systemDefaults: SystemConfig = {
  enabled: true,
  allowNodeScope: false,
  kernelParams: paramsFrom((s) => s.default),
  extraSysctls: {},
  logRotation: {
    paths: [],
    maxSize: '100M',
    maxAge: 30,
    compress: true,
    mode: 'copytruncate',
    rotate: 30,
    interval: 3_600_000,
    reopenSignal: 'SIGHUP',
  },
  daemon: {
    verifyInterval: 60_000,
    drift: 'repair',
    host: '127.0.0.1',
    port: 9477,
    rollbackOnExit: false,
    shutdownGrace: 10_000,
  },
};

export const systemProfiles: Record<Profile, Partial<SystemConfig>> = {
  default: {},
  hft: { kernelParams: paramsFrom((s) => s.hft) },
};

/** 1 TiB: no log needs a larger rotation threshold, and logrotate reads it as an exact byte count. */
export const MAX_LOG_SIZE_BYTES = 1024 ** 4;

// Characters logrotate's config parser would read as syntax (quotes, braces, comments, escapes) are refused,
// and so are control characters: logrotate would escape them into a different path and never rotate the log.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const SAFE_PATH_RE = /^\/[^\x00-\x1f\x7f"'{}#\\]*$/;

export function systemSchema() {
  const { v, int, bool, oneOf, str, size, section } = require('../rules') as typeof import('../rules');
  const params: Record<string, ReturnType<typeof v.nullable>> = {};
  for (const spec of SYSCTL_CATALOGUE) params[spec.param] = v.nullable(sysctlValueSchema(spec));
  const keyMsg = "a dotted sysctl key such as 'net.ipv4.tcp_mtu_probing' (letters, digits, _ and - between dots)";
  return section({
    /** Manage sysctls and logrotate at all. */
    enabled: bool(),
    /** Allow node-wide keys (vm.*, fs.*, host-only net.core.*): DaemonSet mode. */
    allowNodeScope: bool(),
    kernelParams: section(params),
    /** Sysctl keys outside the catalogue, allowed explicitly (dotted key -> value); still path-checked. */
    extraSysctls: v.record(
      v.pipe(
        v.string(keyMsg),
        v.regex(SYSCTL_KEY_RE, keyMsg),
        v.maxLength(200, keyMsg),
        v.check(
          (key) => extraSysctlRefusal(key) === undefined,
          (issue) => `a tuning key: ${issue.input} is ${extraSysctlRefusal(String(issue.input))}`,
        ),
      ),
      v.union(
        [v.pipe(v.string(), v.regex(/^[\x20-\x7e\t]{1,256}$/)), v.pipe(v.number(), v.integer())],
        'an integer or a printable string',
      ),
      'an object of sysctl key to value',
    ),
    logRotation: section({
      /** Absolute log file paths or globs to rotate; empty means no logrotate config is managed. */
      paths: v.array(
        v.pipe(
          str('an absolute file path or glob'),
          v.regex(
            SAFE_PATH_RE,
            'an absolute file path or glob without control characters, quotes, braces, # or backslashes',
          ),
        ),
        'a list of file paths or globs',
      ),
      maxSize: size("a size such as '100M', '2gb' or a number of bytes", MAX_LOG_SIZE_BYTES),
      /** Days to keep rotated files. */
      maxAge: int(1, 3650, 'days'),
      compress: bool(),
      /** `copytruncate` for writers that cannot reopen; `create` plus a reopen signal otherwise. */
      mode: oneOf(['copytruncate', 'create'] as const),
      /** Rotated generations kept. */
      rotate: int(1, 1000),
      /** How often the daemon runs logrotate, ms. */
      interval: int(1000, 86_400_000 * 7, 'ms'),
      /** `user group` for logrotate's `su` directive, needed when a log directory is writable by a non-root user. */
      su: v.optional(
        v.pipe(
          v.string("'user group'"),
          v.regex(/^[a-z_][a-z0-9_-]{0,31} [a-z_][a-z0-9_-]{0,31}$/, "'user group', e.g. 'app app'"),
        ),
      ),
      /** With `create`: the writer's pid file; the sidecar sends it `reopenSignal` after a rotation (no postrotate shell). */
      pidFile: v.optional(
        v.pipe(
          str('an absolute file path'),
          v.regex(SAFE_PATH_RE, 'an absolute file path without control characters, quotes, braces, # or backslashes'),
        ),
      ),
      reopenSignal: oneOf(['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const),
    }),
    daemon: section({
      /** ms between two verify passes of `run`. */
      verifyInterval: int(100, 86_400_000, 'ms'),
      /** `repair` re-applies drifted settings; `report` only logs them. */
      drift: oneOf(['repair', 'report'] as const),
      /** Probe listener; loopback unless a pod IP is configured on purpose. */
      host: str('a listen address such as 127.0.0.1', 253),
      /** 0 picks a free port (tests). */
      port: int(0, 65535),
      /** Restore the journalled originals on SIGTERM. */
      rollbackOnExit: bool(),
      /**
       * ms a stop (SIGTERM, SIGINT, a fault) waits for the pass under way before
       * it interrupts it and rolls back what it can: keep it below the pod's
       * terminationGracePeriodSeconds (30 s by default).
       */
      shutdownGrace: int(0, 600_000, 'ms'),
    }),
  });
}

function sysctlValueSchema(spec: SysctlSpec) {
  const { v, int, oneOf } = require('../rules') as typeof import('../rules');
  if (spec.type === 'enum') return oneOf(spec.values);
  if (spec.type === 'int') return int(spec.min, spec.max, spec.unit);
  const msg = `a list of ${spec.count} integers from ${spec.min} to ${spec.max}`;
  return v.pipe(v.array(int(spec.min, spec.max), msg), v.length(spec.count, msg));
}
