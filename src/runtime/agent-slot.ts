/**
 * The one agent per process. A global Symbol.for slot (not a module variable)
 * so two copies of the package, or the preload required twice, share it.
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
