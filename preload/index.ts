/**
 * `node --require titan-perf/preload app.js` (or `--import`): starts the one
 * RuntimeAgent of this process. Fail-open: nothing here may stop or change
 * the app, except TITAN_PERF_STRICT=1 with an invalid configuration, which
 * the user asked to be fatal. No signal or exit listeners, nothing that keeps
 * the process alive. Inactive in worker threads: they inherit the preload
 * through execArgv/NODE_OPTIONS, and the main thread's agent already watches
 * the process's heap and GC (a worker's own event loop is not watched).
 * The preload starts no workers or children of its own.
 *
 * Start-up budget is 10 ms: with no TITAN_PERF_* input the config is the
 * defaults object itself, so neither the schema library nor the other
 * sections are loaded.
 */
import type { NodejsConfig } from '../src/config/sections/nodejs';
import type { TelemetryConfig } from '../src/config/sections/telemetry';
import type { ConfigIssue } from '../src/errors';
import { claimAgentSlot, isMainThread, setAgentSlot } from '../src/runtime/agent-slot';
import type { RuntimeAgent } from '../src/runtime/agent';
import type { ReadingsSource, SourceState } from '../src/telemetry/source';

/** The oldest Node the agent runs on (package.json engines): older ones lack APIs it relies on. */
const OLDEST_NODE: readonly [number, number] = [22, 15];

/** On an older Node the agent stays off, with one line saying why, and the app runs as it would without it. */
function supportedNode(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > OLDEST_NODE[0] || (major === OLDEST_NODE[0] && minor >= OLDEST_NODE[1])) return true;
  process.stderr.write(
    `titan-perf: inactive: Node ${process.versions.node} is older than ${OLDEST_NODE.join('.')}, the oldest Node it runs on; the app runs without it.\n`,
  );
  return false;
}

function flag(name: string): boolean {
  const v = process.env[name];
  return v === '1' || v === 'true';
}

function resolveNodejsConfig(): {
  config: NodejsConfig;
  telemetry?: TelemetryConfig;
  issues: ConfigIssue[];
  heapSizeChosen: boolean;
} {
  const env = process.env;
  const keys = Object.keys(env);
  // Most processes have no TITAN_PERF_* variable at all: then the list of which
  // ones are configuration is not loaded (each file costs the preload ~0.5 ms).
  const names = keys.some((k) => k.startsWith('TITAN_PERF_'))
    ? keys.filter((require('../src/config/env-names') as typeof import('../src/config/env-names')).isConfigInput)
    : [];
  if (names.length === 0) {
    const { nodejsDefaults } =
      require('../src/config/sections/nodejs') as typeof import('../src/config/sections/nodejs');
    return { config: nodejsDefaults, issues: [], heapSizeChosen: false };
  }
  const { resolveConfig } = require('../src/config/load') as typeof import('../src/config/load');
  const { ConfigError, formatIssue } = require('../src/errors') as typeof import('../src/errors');
  const own: Record<string, string | undefined> = {};
  for (const k of names) own[k] = env[k];
  try {
    const resolved = resolveConfig({ env: own, strict: flag('TITAN_PERF_STRICT') });
    if (resolved.issues.length > 0) {
      process.stderr.write(
        `titan-perf: invalid configuration; these settings fall back to their defaults and the app starts normally:\n  ${resolved.issues.map(formatIssue).join('\n  ')}\n`,
      );
    }
    return {
      config: resolved.config.nodejs,
      telemetry: resolved.config.telemetry,
      issues: resolved.issues,
      heapSizeChosen: resolved.chosen('nodejs.maxOldSpaceSize'),
    };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `titan-perf: ${err.message}\nTITAN_PERF_STRICT=1: the app is not started; fix the configuration or unset TITAN_PERF_STRICT.\n`,
      );
      process.exit(1);
    }
    throw err;
  }
}

function start(): void {
  if (flag('TITAN_PERF_DISABLED') || !isMainThread() || !supportedNode()) return;
  // Two copies of the package, or --require and --import together: the first claims the process.
  if (!claimAgentSlot()) return;
  const { config, telemetry, issues, heapSizeChosen } = resolveNodejsConfig();

  const { RuntimeAgent } = require('../src/runtime/agent') as typeof import('../src/runtime/agent');
  // GC pauses are observed once something reads them (see RuntimeAgentOptions.gcReadings).
  const agent = new RuntimeAgent({ config, configIssues: issues, heapSizeChosen, gcReadings: 'on-demand' });
  setAgentSlot(agent);
  agent.start();

  startPreloadTelemetry(agent, telemetry);
}

/**
 * The preload's telemetry: the runtime agent's readings, warnings and
 * verdicts reported through startTelemetry, plus the performance score
 * computed from them. In this file rather than one of its own, which cost
 * every process ~0.5 ms of start-up. The config is read after the app's main
 * module has run (setImmediate, unref'd) and the telemetry modules, the
 * OpenTelemetry API and the SDK load only `telemetry.exportDelay` later, on
 * an unref'd timer. `resolved` is the telemetry section when the preload had
 * configuration input to resolve (so it is read and validated once); without
 * it, the defaults apply.
 */
function startPreloadTelemetry(agent: RuntimeAgent, resolved?: TelemetryConfig): void {
  const fail = (err: unknown) => {
    const { reportFault } = require('../src/runtime/fault') as typeof import('../src/runtime/fault');
    reportFault('titan-perf telemetry', err);
  };
  // After the main module has run: read the config; then, exportDelay later, load the
  // rest. Nothing of telemetry is loaded in a process that ends sooner.
  setImmediate(() => {
    try {
      const config =
        resolved ??
        (require('../src/config/sections/telemetry') as typeof import('../src/config/sections/telemetry'))
          .telemetryDefaults;
      if (!config.enabled) return;
      // Listening is cheap and catches warnings raised before telemetry loads.
      const { SourceState } = require('../src/telemetry/source') as typeof import('../src/telemetry/source');
      const source = agentSource(agent);
      const state = new SourceState(source);
      setTimeout(() => {
        try {
          startTelemetryNow(agent, source, state, { ...config, exportDelay: 0 });
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

function startTelemetryNow(
  agent: RuntimeAgent,
  source: ReadingsSource,
  state: SourceState,
  config: TelemetryConfig,
): void {
  const { selfTime } = require('../src/runtime/self-time') as typeof import('../src/runtime/self-time');
  const { startTelemetry } = selfTime().measure(
    () => require('../src/telemetry/start-telemetry') as typeof import('../src/telemetry/start-telemetry'),
  );
  let score: typeof import('../src/score/score') | undefined;
  startTelemetry({
    source,
    state,
    config,
    score: () => {
      const readings = agent.getReadings();
      if (!readings) return undefined;
      score ??= require('../src/score/score') as typeof import('../src/score/score');
      return score.scorePerformance({ nodejs: agent.config, readings, verdicts: agent.verdicts() }).score;
    },
  });
}

try {
  start();
} catch (err) {
  try {
    (require('../src/runtime/fault') as typeof import('../src/runtime/fault')).reportFault(
      'the titan-perf preload',
      err,
    );
  } catch {
    // The package itself is broken (a partial install): stay silent rather than fail the app.
  }
}
