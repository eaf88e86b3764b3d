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

/**
 * `resolved` is the telemetry section when the preload had configuration
 * input to resolve (so it is read and validated once); without it, the
 * defaults apply.
 */
export function startPreloadTelemetry(
  agent: RuntimeAgent,
  resolved?: TelemetryConfig,
  onStarted?: (handle: TelemetryHandle) => void,
): void {
  const fail = (err: unknown) => {
    const { reportFault } = require('../runtime/fault') as typeof import('../runtime/fault');
    reportFault('titan-perf telemetry', err);
  };
  // After the main module has run: read the config; then, exportDelay later, load the
  // rest. Nothing of telemetry is loaded in a process that ends sooner.
  setImmediate(() => {
    try {
      const config =
        resolved ??
        (require('../config/sections/telemetry') as typeof import('../config/sections/telemetry')).telemetryDefaults;
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

/** The agent's NO_GC_NEEDED, without loading its module here. */
const NO_GC_NEEDED = Symbol.for('titan-perf.readings-without-gc');

function agentSource(agent: RuntimeAgent): ReadingsSource {
  return {
    // Telemetry listens from start-up but reads GC pauses only once it reports somewhere (watchGc).
    // biome-ignore lint/suspicious/noExplicitAny: passed through to EventEmitter.on, whose listeners take any arguments
    on: (event: string, listener: ((...args: any[]) => void) & { [NO_GC_NEEDED]?: boolean }) => {
      if (event === 'readings') listener[NO_GC_NEEDED] = true;
      return agent.on(event, listener);
    },
    // biome-ignore lint/suspicious/noExplicitAny: passed through to EventEmitter.off, whose listeners take any arguments
    off: (event: string, listener: (...args: any[]) => void) => agent.off(event, listener),
    getReadings: () => agent.getReadings(),
    getVerdicts: () => agent.verdicts(),
    watchGc: () => agent.watchGc(),
  };
}

function start(
  agent: RuntimeAgent,
  source: ReadingsSource,
  state: SourceState,
  config: TelemetryConfig,
  onStarted?: (handle: TelemetryHandle) => void,
): void {
  const { selfTime } = require('../runtime/self-time') as typeof import('../runtime/self-time');
  const { startTelemetry } = selfTime().measure(
    () => require('./start-telemetry') as typeof import('./start-telemetry'),
  );
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
