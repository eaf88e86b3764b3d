/** The `telemetry` section; exporters themselves follow the standard OTEL_* environment variables. */
import type { Profile } from '../types';

export interface TelemetryConfig {
  /** Register titan-perf's OpenTelemetry instruments. */
  enabled: boolean;
}

export const telemetryDefaults: TelemetryConfig = { enabled: true };

export const telemetryProfiles: Record<Profile, Partial<TelemetryConfig>> = { default: {}, hft: {} };

export function telemetrySchema() {
  const { bool, section } = require('../rules') as typeof import('../rules');
  return section({ enabled: bool() });
}
