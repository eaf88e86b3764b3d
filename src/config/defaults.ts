import { nodejsDefaults, nodejsProfiles } from './sections/nodejs';
import { redisDefaults, redisProfiles } from './sections/redis';
import { systemDefaults, systemProfiles } from './sections/system';
import { telemetryDefaults, telemetryProfiles } from './sections/telemetry';
import type { DeepPartial, Profile, TitanPerfConfig } from './types';
import { deepMerge, deepFreeze } from './merge';

/** Defaults for a typical production service (the `default` profile); every source is merged over them. */
export const DEFAULT_PERFORMANCE_CONFIG: TitanPerfConfig = deepFreeze({
  nodejs: nodejsDefaults,
  redis: redisDefaults,
  system: systemDefaults,
  telemetry: telemetryDefaults,
  dataDir: '/var/lib/titan-perf',
});

/** What each profile changes on top of the defaults. */
export const PROFILE_OVERRIDES: Record<Profile, DeepPartial<TitanPerfConfig>> = deepFreeze({
  default: {},
  hft: {
    nodejs: nodejsProfiles.hft,
    redis: redisProfiles.hft,
    system: systemProfiles.hft,
    telemetry: telemetryProfiles.hft,
  },
} as Record<Profile, DeepPartial<TitanPerfConfig>>);

export function profileConfig(profile: Profile): TitanPerfConfig {
  return deepMerge(DEFAULT_PERFORMANCE_CONFIG, PROFILE_OVERRIDES[profile]);
}
