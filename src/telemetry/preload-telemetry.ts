/**
 * The preload's telemetry: the runtime agent's readings, warnings and verdicts
 * reported through startTelemetry, plus the performance score computed from
 * them. Called once by the preload, which pays for this file only; the config
 * is read after the app's main module has run (setImmediate, unref'd) and the
 * telemetry modules, the OpenTelemetry API and the SDK load only
 * `telemetry.exportDelay` later, on an unref'd timer.
 */
import type { RuntimeAgent } from '../runtime/agent';
import type { TelemetryConfig } from '../config/sections/telemetry';
import type { ReadingsSource, SourceState } from './source';
import type { TelemetryHandle } from './start-telemetry';

/** TITAN_PERF_* variables that configure the preload itself, not the config. */
const NOT_CONFIG = new Set(['TITAN_PERF_DISABLED', 'TITAN_PERF_STRICT', 'TITAN_PERF_CGROUP_ROOT']);

function telemetryConfig(): TelemetryConfig {
  const env = process.env;
  const own = Object.keys(env).filter((k) => k.startsWith('TITAN_PERF_') && !NOT_CONFIG.has(k));
  if (own.length === 0) return (require('../config/sections/telemetry') as typeof import('../config/sections/telemetry')).telemetryDefaults;
  // The preload already reported any issue of this configuration; here only the values count.
  const { resolveConfig } = require('../config/load') as typeof import('../config/load');
  return resolveConfig({ env: Object.fromEntries(own.map((k) => [k, env[k]])) }).config.telemetry;
}

export function startPreloadTelemetry(agent: RuntimeAgent, onStarted?: (handle: TelemetryHandle) => void): void {
  const fail = (err: unknown) => {
    const { reportFault } = require('../runtime/fault') as typeof import('../runtime/fault');
    reportFault('titan-perf telemetry', err);
  };
  // After the main module has run: read the config; then, exportDelay later, load the
  // rest. Nothing of telemetry is loaded in a process that ends sooner.
  setImmediate(() => {
    try {
      const config = telemetryConfig();
      if (!config.enabled) return;
      // Listening is cheap and catches warnings raised before telemetry loads.
      const { SourceState } = require('./source') as typeof import('./source');
      const source = agentSource(agent);
      const state = new SourceState(source);
      setTimeout(() => {
        try {
          start(agent, source, state, { ...config, exportDelay: 0 }, onStarted);
        } catch (err) {
          fail(err);
        }
      }, config.exportDelay).unref();
    } catch (err) {
      fail(err);
    }
  }).unref();
}

function agentSource(agent: RuntimeAgent): ReadingsSource {
  return {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    on: (event: string, listener: (...args: any[]) => void) => agent.on(event, listener),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    off: (event: string, listener: (...args: any[]) => void) => agent.off(event, listener),
    getReadings: () => agent.getReadings(),
    getVerdicts: () => agent.verdicts(),
  };
}

function start(
  agent: RuntimeAgent,
  source: ReadingsSource,
  state: SourceState,
  config: TelemetryConfig,
  onStarted?: (handle: TelemetryHandle) => void,
): void {
  const { startTelemetry } = require('./start-telemetry') as typeof import('./start-telemetry');
  let score: typeof import('../score/score') | undefined;
  const handle = startTelemetry({
    source,
    state,
    config,
    score: () => {
      const readings = agent.getReadings();
      if (!readings) return undefined;
      score ??= require('../score/score') as typeof import('../score/score');
      return score.scorePerformance({ nodejs: agent.config, readings, verdicts: agent.verdicts() }).score;
    },
  });
  onStarted?.(handle);
}
