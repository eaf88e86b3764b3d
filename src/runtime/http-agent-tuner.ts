/**
 * Tunes http.globalAgent and https.globalAgent for legacy clients (http.get,
 * axios, got...) and puts the originals back on disable(), each only if
 * nobody replaced ours since.
 *
 * The modules are never loaded for this: requiring `https` costs ~40 ms of
 * start-up (tls), more than the preload's whole budget. check() tunes a module
 * once the app has loaded it (process.moduleLoadList); the agent calls it
 * right after the main module ran and at every reading. Until then the app's
 * requests use Node's default agent, which already keeps connections alive.
 *
 * Only Node's own default agent is replaced (recognized by its options): an
 * agent the app installed itself, or one Node built for NODE_USE_ENV_PROXY,
 * is left alone.
 */
import type { Agent as HttpAgent } from 'node:http';
import type { ConnectionPoolingConfig } from '../config/sections/nodejs';
import type { TunerStatus } from './tuner-status';

type ModuleName = 'http' | 'https';
const MODULES: ModuleName[] = ['http', 'https'];

interface AgentModule {
  Agent: new (opts: Record<string, unknown>) => HttpAgent;
  globalAgent: HttpAgent;
}

export function httpAgentOptions(p: ConnectionPoolingConfig): Record<string, unknown> {
  return {
    keepAlive: true,
    // Sockets serve requests most-recently-freed first, so idle ones age out and the pool shrinks after a burst.
    scheduling: 'lifo',
    maxSockets: p.maxConnections,
    maxFreeSockets: p.maxFreeSockets,
    // An idle pooled socket closes after this; a server's Keep-Alive hint
    // (shorter) still wins, Node applies it per response.
    timeout: p.keepAliveTimeout,
  };
}

/** Node's default global agent: keepAlive, lifo, 5 s, no proxy and no pool limit. */
function isNodeDefault(agent: HttpAgent): boolean {
  const o = (agent as HttpAgent & { options?: Record<string, unknown> }).options ?? {};
  // Node 24+ always has a `proxyEnv` key; it is set only when NODE_USE_ENV_PROXY is on.
  const extra = Object.keys(o).filter(
    (k) =>
      o[k] !== undefined &&
      o[k] !== null &&
      !['keepAlive', 'scheduling', 'timeout', 'noDelay', 'path', 'defaultPort', 'protocol'].includes(k),
  );
  return o.keepAlive === true && o.timeout === 5000 && agent.maxSockets === Infinity && extra.length === 0;
}

export class HttpAgentTuner {
  private readonly options: Record<string, unknown>;
  private readonly installed = new Map<ModuleName, { original: HttpAgent; tuned: HttpAgent }>();
  private readonly leftAlone = new Map<ModuleName, string>();
  private on = false;

  constructor(
    pooling: ConnectionPoolingConfig,
    private readonly onFault: (what: string, err: unknown) => void = () => {},
  ) {
    this.options = httpAgentOptions(pooling);
  }

  enable(): void {
    this.on = true;
    this.check();
  }

  /** Tunes each of http/https the app has loaded since the last call. Cheap: one scan of the load list. */
  check(): void {
    if (!this.on) return;
    const loaded = (process as NodeJS.Process & { moduleLoadList?: string[] }).moduleLoadList;
    for (const name of MODULES) {
      if (this.installed.has(name) || this.leftAlone.has(name)) continue;
      if (!loaded) {
        this.leftAlone.set(name, 'this Node does not expose process.moduleLoadList');
        continue;
      }
      if (!loaded.includes(`NativeModule ${name}`)) continue;
      try {
        const mod = process.getBuiltinModule(name) as unknown as AgentModule;
        const current = mod.globalAgent;
        if (!isNodeDefault(current)) {
          this.leftAlone.set(
            name,
            `${name}.globalAgent was replaced or configured by the app (or a proxy setting); left as is`,
          );
          continue;
        }
        const tuned = new mod.Agent({ ...(current as HttpAgent & { options?: object }).options, ...this.options });
        mod.globalAgent = tuned;
        this.installed.set(name, { original: current, tuned });
      } catch (err) {
        this.leftAlone.set(name, `tuning failed, left as is: ${(err as Error)?.message ?? err}`);
        this.onFault(`${name} agent tuning`, err);
      }
    }
  }

  disable(): void {
    this.on = false;
    for (const [name, { original, tuned }] of this.installed) {
      const mod = process.getBuiltinModule(name) as unknown as AgentModule;
      if (mod.globalAgent === tuned) mod.globalAgent = original;
      else this.leftAlone.set(name, `${name}.globalAgent had been replaced by the app after tuning; its own was kept`);
    }
    this.installed.clear();
  }

  /** The tuned agent of a module, if installed. */
  agent(name: ModuleName): HttpAgent | undefined {
    return this.installed.get(name)?.tuned;
  }

  status(): TunerStatus[] {
    return MODULES.map((name): TunerStatus => {
      const label = `${name}.globalAgent`;
      const inst = this.installed.get(name);
      if (inst) {
        const mod = process.getBuiltinModule(name) as unknown as AgentModule;
        if (mod.globalAgent !== inst.tuned)
          return {
            name: label,
            state: 'replaced',
            reason: `the app replaced ${label} after tuning; left as is`,
            settings: this.options,
          };
        return { name: label, state: 'tuned', settings: this.options };
      }
      const why = this.leftAlone.get(name);
      if (why) return { name: label, state: 'left-alone', reason: why };
      if (!this.on) return { name: label, state: 'off' };
      return { name: label, state: 'armed', reason: `tuned once the app loads '${name}'` };
    });
  }
}
