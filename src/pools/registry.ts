/**
 * The open database pools of this process, for the readings. Kept on a
 * global symbol so that the preload's copy of titan-perf sees the pools an
 * app created through its own copy (node_modules) of the library.
 */
import type { DbPoolReading } from '../runtime/runtime-readings';

export interface ReadablePool {
  readonly name: string;
  reading(windowMs?: number): DbPoolReading;
}

const KEY = Symbol.for('titan-perf.db-pools');

function pools(): Map<string, ReadablePool> {
  const g = globalThis as unknown as Record<symbol, Map<string, ReadablePool> | undefined>;
  return (g[KEY] ??= new Map());
}

export function registerPool(pool: ReadablePool): boolean {
  const all = pools();
  if (all.has(pool.name)) return false;
  all.set(pool.name, pool);
  return true;
}

export function unregisterPool(pool: ReadablePool): void {
  const all = pools();
  if (all.get(pool.name) === pool) all.delete(pool.name);
}

export function isPoolNameTaken(name: string): boolean {
  return pools().has(name);
}

/** `Readings.dbPools`: one reading per open pool, acquire waits over the last `windowMs`. */
export function dbPoolReadings(windowMs?: number): DbPoolReading[] {
  return [...pools().values()].map((p) => p.reading(windowMs));
}
