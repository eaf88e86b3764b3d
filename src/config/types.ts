import type { NodejsConfig } from './sections/nodejs';
import type { RedisConfig } from './sections/redis';
import type { SystemConfig } from './sections/system';
import type { TelemetryConfig } from './sections/telemetry';

export const PROFILES = ['default', 'hft'] as const;
export type Profile = (typeof PROFILES)[number];

export interface TitanPerfConfig {
  nodejs: NodejsConfig;
  redis: RedisConfig;
  system: SystemConfig;
  telemetry: TelemetryConfig;
  /** Where journals and state live. */
  dataDir: string;
}

export type DeepPartial<T> = T extends (infer U)[]
  ? U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type { NodejsConfig, RedisConfig, SystemConfig, TelemetryConfig };
