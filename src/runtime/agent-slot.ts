/**
 * Where the agent runs: one agent per process, in the main thread. A global
 * Symbol.for slot (not a module variable) so two copies of the package, or
 * the preload required twice, share it. (One file for both: every file the
 * preload loads costs it ~0.7 ms of start-up here.)
 */
import type { RuntimeAgent } from './agent';

export const AGENT_SLOT = Symbol.for('titan-perf.agent');

type Slot = { [AGENT_SLOT]?: RuntimeAgent | 'starting' };

/** The preload's live agent, or undefined when the preload is not loaded (or was stopped). */
export function getAgent(): RuntimeAgent | undefined {
  const v = (globalThis as Slot)[AGENT_SLOT];
  return typeof v === 'object' && v !== null ? v : undefined;
}

/** Claims the slot; false when another copy already holds it (or is starting). */
export function claimAgentSlot(): boolean {
  const g = globalThis as Slot;
  if (g[AGENT_SLOT] !== undefined) return false;
  Object.defineProperty(g, AGENT_SLOT, { value: 'starting', writable: true, configurable: true, enumerable: false });
  return true;
}

export function setAgentSlot(agent: RuntimeAgent | undefined): void {
  (globalThis as Slot)[AGENT_SLOT] = agent;
}

/** Empties the slot if it holds this agent. */
export function releaseAgentSlot(agent: RuntimeAgent): void {
  const g = globalThis as Slot;
  if (g[AGENT_SLOT] === agent) delete g[AGENT_SLOT];
}

/**
 * Whether this is the main thread, without loading `worker_threads` (~4 ms of
 * start-up when nothing loaded it yet). A worker's bootstrap always loads
 * `internal/process/worker_thread_only`; the main thread's never does.
 */
export function isMainThread(): boolean {
  const loaded = (process as NodeJS.Process & { moduleLoadList?: string[] }).moduleLoadList;
  if (!loaded || loaded.includes('NativeModule worker_threads')) {
    return (require('node:worker_threads') as typeof import('node:worker_threads')).isMainThread;
  }
  return !loaded.includes('NativeModule internal/process/worker_thread_only');
}
