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
  const { isConfigInput } = require('../src/config/env-names') as typeof import('../src/config/env-names');
  const names = Object.keys(env).filter(isConfigInput);
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

  const { startPreloadTelemetry } =
    require('../src/telemetry/preload-telemetry') as typeof import('../src/telemetry/preload-telemetry');
  startPreloadTelemetry(agent, telemetry);
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
