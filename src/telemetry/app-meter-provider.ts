/**
 * Finds the MeterProvider the app registered globally, without registering
 * one: the metrics API has no proxy, so a provider registered by titan-perf
 * would make the app's own `setGlobalMeterProvider` fail ("duplicate
 * registration") and leave the app's metrics on a provider it never
 * configured. Reading the global is free of side effects.
 */
import type { MeterProvider } from '@opentelemetry/api';
import { METER_NAME } from './names';

type Api = typeof import('@opentelemetry/api');
let api: Api | null | undefined;

/** The peer dependency, or null when the app has none installed. */
export function otelApi(): Api | null {
  if (api === undefined) {
    try {
      api = require('@opentelemetry/api') as Api;
    } catch {
      api = null;
    }
  }
  return api;
}

/**
 * Where @opentelemetry/api 1.x keeps its globals. Looked at first so that a
 * process with no OpenTelemetry never loads the API (~15 ms of require on an
 * idle machine) just to learn that nothing is registered.
 */
const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');

/** The app's global MeterProvider, or undefined while only the API's no-op one is there. */
export function appMeterProvider(): MeterProvider | undefined {
  const registry = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[GLOBAL_KEY];
  if (!registry?.metrics) return undefined;
  const a = otelApi();
  if (!a) return undefined;
  const provider = a.metrics.getMeterProvider();
  // The no-op provider hands out the API's no-op meter; any SDK hands out a real meter
  // (the same one titan-perf then uses, so probing adds no empty scope).
  const meter = provider.getMeter(METER_NAME);
  return meter.constructor === a.createNoopMeter().constructor ? undefined : provider;
}
