/**
 * The names of this process's open database pools, so that two pools never
 * report under one name. Kept on a global symbol so that a second copy of
 * titan-perf in node_modules sees the names the first one took. Readings do
 * not go through here: the NodeJS optimizer hands each pool to the agent
 * (RuntimeAgent.addDbPool), the one way pool readings reach the telemetry
 * and the score.
 */

const KEY = Symbol.for('titan-perf.db-pools');

function pools(): Map<string, object> {
  const g = globalThis as unknown as Record<symbol, Map<string, object> | undefined>;
  return (g[KEY] ??= new Map());
}

export function registerPool(pool: { readonly name: string }): boolean {
  const all = pools();
  if (all.has(pool.name)) return false;
  all.set(pool.name, pool);
  return true;
}

export function unregisterPool(pool: { readonly name: string }): void {
  const all = pools();
  if (all.get(pool.name) === pool) all.delete(pool.name);
}

export function isPoolNameTaken(name: string): boolean {
  return pools().has(name);
}
