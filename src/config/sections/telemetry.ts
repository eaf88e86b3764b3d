/**
 * The `telemetry` section. Where metrics go (OTLP, Prometheus, console) is
 * not configured here: that follows the standard OTEL_* environment variables
 * so titan-perf is set up the way every other OpenTelemetry component is.
 */
import type * as V from 'valibot';
import type { Profile } from '../types';

/** Derived from the schema, so a field is written once (plus its default); types only, valibot is not loaded. */
export type TelemetryConfig = V.InferOutput<ReturnType<typeof telemetrySchema>>;

export const telemetryDefaults: TelemetryConfig = {
  enabled: true,
  useAppMeterProvider: true,
  exportDelay: 3000,
  maxOrigins: 20,
  maxDbPools: 10,
};

export const telemetryProfiles: Record<Profile, Partial<TelemetryConfig>> = { default: {}, hft: {} };

export function telemetrySchema() {
  const { bool, int, section } = require('../rules') as typeof import('../rules');
  return section({
    /** Register titan-perf's OpenTelemetry instruments. */
    enabled: bool(),
    /**
     * Report through the app's own global MeterProvider when it registers one
     * (its pipeline, its exporter), instead of titan-perf's own exporter.
     */
    useAppMeterProvider: bool(),
    /**
     * ms after start-up before titan-perf loads the SDK and starts its own
     * exporter; gives an app that starts its SDK during start-up the time to
     * register first, and keeps the SDK off the start-up path.
     */
    exportDelay: int(0, 600_000, 'ms'),
    /** Outbound origins reported one by one; the rest are summed under `_other`. */
    maxOrigins: int(1, 1000),
    /** Database pools reported one by one; the rest are summed under `_other`. */
    maxDbPools: int(1, 1000),
  });
}
