/**
 * The in-process part: a thin owner of the runtime agent (the same class the
 * preload starts). When the preload already runs an agent in this process,
 * that one is used and never duplicated: two agents would both try to own
 * fetch's global dispatcher. Heap size and GC flags cannot change after
 * start; they are checked and reported as verdicts with the fix.
 */
import { EventEmitter } from 'node:events';
import type { NodejsConfig } from '../config/types';
import { DatabaseConnectionPool, type DatabaseConnectionPoolOptions } from '../pools/database-connection-pool';
import { getAgent } from '../runtime/agent-slot';
import type { NodeRuntimeMetrics, RuntimeAgent } from '../runtime/agent';
import type { Readings } from '../runtime/runtime-readings';
import type { AreaReport, RollbackReport } from './types';

type Mode = 'off' | 'watching' | 'tuned';

export class NodeJSOptimizer extends EventEmitter {
  private config: NodejsConfig;
  private own: RuntimeAgent | undefined;
  private mode: Mode = 'off';
  private readonly pools = new Set<DatabaseConnectionPool>();
  private readonly forward = (w: unknown) => this.emit('performance-warning', w);

  constructor(config: NodejsConfig) {
    super();
    this.config = config;
  }

  /** The agent in use: the preload's when it runs, else this optimizer's own (once started). */
  get agent(): RuntimeAgent | undefined {
    return getAgent() ?? this.own;
  }

  /** Whether the preload's agent (not this optimizer) owns the in-process tuning. */
  get usesPreloadAgent(): boolean {
    const preload = getAgent();
    return preload !== undefined && preload !== this.own;
  }

  /** @internal PerformanceOptimizer swaps the config for the HFT profile; a running own agent restarts with it. */
  setConfig(config: NodejsConfig): void {
    this.config = config;
  }

  private start(mode: Exclude<Mode, 'off'>): RuntimeAgent {
    const { RuntimeAgent: Agent } = require('../runtime/agent') as typeof import('../runtime/agent');
    this.stopOwn();
    // Watching only (metrics before any apply) must not touch fetch or the http agents.
    const config = mode === 'tuned' ? this.config : { ...this.config, tuneFetch: false, tuneHttpAgents: false };
    const agent = new Agent({ config });
    agent.on('performance-warning', this.forward);
    for (const p of this.pools)
      this.poolRemovals.set(
        p,
        agent.addDbPool(() => p.reading(agent.config.sampleInterval)),
      );
    agent.start();
    this.own = agent;
    this.mode = mode;
    return agent;
  }

  private readonly poolRemovals = new Map<DatabaseConnectionPool, () => void>();

  private stopOwn(): void {
    if (!this.own) return;
    this.own.off('performance-warning', this.forward);
    this.own.stop();
    for (const remove of this.poolRemovals.values()) remove();
    this.poolRemovals.clear();
    this.own = undefined;
    this.mode = 'off';
  }

  /** Tunes fetch and the http agents and starts watching (or reports what the preload already did). */
  async optimize(): Promise<AreaReport> {
    const report: AreaReport = { area: 'nodejs', applied: [], warnings: [], errors: [] };
    const preload = getAgent();
    let agent: RuntimeAgent;
    if (preload && preload !== this.own) {
      agent = preload;
      report.warnings.push(
        'the titan-perf preload already runs in this process: its tuning is kept (configure it through TITAN_PERF_* / TITAN_PERF_CONFIG)',
      );
      if (!preload.listeners('performance-warning').includes(this.forward))
        preload.on('performance-warning', this.forward);
    } else {
      agent = this.mode === 'tuned' && this.own && this.own.config === this.config ? this.own : this.start('tuned');
    }
    const status = agent.status();
    for (const t of status.tuning) {
      if (t.state === 'tuned' || t.state === 'armed')
        report.applied.push(`nodejs ${t.name}: ${t.state}${t.reason ? ` (${t.reason})` : ''}`);
      else if (t.state !== 'off')
        report.warnings.push(`nodejs ${t.name}: ${t.state}${t.reason ? `: ${t.reason}` : ''}`);
    }
    report.applied.push(
      `nodejs watching: event-loop delay > ${agent.config.maxEventLoopDelay} ms, utilization > ${agent.config.maxEventLoopUtilization}, heap > ${agent.config.maxHeapUsage} of its limit`,
    );
    for (const v of status.verdicts) {
      if (v.severity !== 'info') report.warnings.push(`nodejs ${v.id}: ${v.message}${v.fix ? `; fix: ${v.fix}` : ''}`);
    }
    return report;
  }

  /** Readings over the time since the last one (starting to watch if nothing watches yet), active warnings and verdicts. */
  async getMetrics(): Promise<NodeRuntimeMetrics & { readings: Readings }> {
    let agent = this.agent;
    if (!agent) agent = this.start('watching');
    const readings = agent === this.own ? agent.sample() : (agent.getReadings() ?? agent.sample());
    return { ...agent.getPerformanceMetrics(), readings };
  }

  createDatabaseConnectionPool<T extends object>(
    name: string,
    create: () => T | Promise<T>,
    destroy: (connection: T) => unknown,
    options?: DatabaseConnectionPoolOptions<T>,
  ): DatabaseConnectionPool<T> {
    const pool = new DatabaseConnectionPool<T>(name, create, destroy, options, this.config.connectionPooling);
    const p = pool as unknown as DatabaseConnectionPool;
    this.pools.add(p);
    const agent = this.agent;
    if (agent)
      this.poolRemovals.set(
        p,
        agent.addDbPool(() => pool.reading(agent.config.sampleInterval)),
      );
    // A pool the caller closes itself must also leave the agent's readings and this optimizer's close() list.
    const close = pool.close.bind(pool);
    pool.close = (timeoutMs?: number) => {
      this.pools.delete(p);
      this.poolRemovals.get(p)?.();
      this.poolRemovals.delete(p);
      return close(timeoutMs);
    };
    return pool;
  }

  /** Puts back fetch's dispatcher and the http agents as they were, and stops watching. */
  async rollback(): Promise<RollbackReport> {
    const report: RollbackReport = { success: true, restored: [], errors: [], warnings: [] };
    if (this.mode === 'tuned' && this.own) {
      const tuning = this.own.status().tuning;
      this.stopOwn();
      for (const t of tuning) {
        if (t.state === 'tuned') report.restored.push(`nodejs ${t.name}: original restored`);
        else if (t.state === 'armed') report.restored.push(`nodejs ${t.name}: disarmed (never tuned)`);
      }
    } else if (this.usesPreloadAgent) {
      report.warnings.push(
        'the in-process tuning belongs to the titan-perf preload; remove it from NODE_OPTIONS (or set TITAN_PERF_DISABLED=1) to undo it',
      );
    }
    return report;
  }

  /** Stops the own agent (restoring what it tuned) and closes every pool made here. */
  async close(): Promise<void> {
    this.stopOwn();
    if (getAgent() !== undefined) getAgent()!.off('performance-warning', this.forward);
    await Promise.all([...this.pools].map((p) => p.close()));
  }
}
