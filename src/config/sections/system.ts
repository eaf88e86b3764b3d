/** The `system` section: kernel sysctls and log rotation, applied by the sidecar. */
import type { Profile } from '../types';

export interface LogRotationConfig {
  /** Log files or globs to rotate; empty means no logrotate config is managed. */
  paths: string[];
  maxSize: string;
  /** Days to keep rotated files. */
  maxAge: number;
  compress: boolean;
  /** `copytruncate` for writers that cannot reopen; `create` plus a reopen signal otherwise. */
  mode: 'copytruncate' | 'create';
  /** Rotated generations kept. */
  rotate: number;
  /** How often the daemon runs logrotate, ms. */
  interval: number;
}

export interface KernelParamsConfig {
  netCoreSomaxconn: number;
  vmSwappiness: number;
  tcpCongestionControl: string;
  [key: string]: number | string;
}

export interface SystemConfig {
  /** Manage sysctls and logrotate at all. */
  enabled: boolean;
  /** Allow node-wide keys (vm.*, fs.*, host-only net.core.*): DaemonSet mode. */
  allowNodeScope: boolean;
  kernelParams: KernelParamsConfig;
  /** Extra sysctl keys outside the catalogue, allowed explicitly (key -> value). */
  extraSysctls: Record<string, string | number>;
  logRotation: LogRotationConfig;
}

export const systemDefaults: SystemConfig = {
  enabled: true,
  allowNodeScope: false,
  kernelParams: {
    netCoreSomaxconn: 65535,
    vmSwappiness: 1,
    tcpCongestionControl: 'bbr',
  },
  extraSysctls: {},
  logRotation: {
    paths: [],
    maxSize: '100M',
    maxAge: 30,
    compress: true,
    mode: 'copytruncate',
    rotate: 30,
    interval: 3_600_000,
  },
};

export const systemProfiles: Record<Profile, Partial<SystemConfig>> = {
  default: {},
  hft: {},
};

export function systemSchema() {
  const { v, int, bool, oneOf, str, size, section } = require('../rules') as typeof import('../rules');
  return section({
    enabled: bool(),
    allowNodeScope: bool(),
    kernelParams: v.looseObject({
      netCoreSomaxconn: int(128, 4_194_304),
      vmSwappiness: int(0, 200),
      tcpCongestionControl: oneOf(['bbr', 'cubic', 'reno'] as const),
    }, 'an object'),
    extraSysctls: v.record(str('a sysctl key'), v.union([v.string(), v.number()], 'a string or number'), 'an object of sysctl key to value'),
    logRotation: section({
      paths: v.array(str('a file path or glob'), 'a list of file paths or globs'),
      maxSize: size(),
      maxAge: int(1, 3650, 'days'),
      compress: bool(),
      mode: oneOf(['copytruncate', 'create'] as const),
      rotate: int(1, 1000),
      interval: int(1000, 86_400_000 * 7, 'ms'),
    }),
  });
}
