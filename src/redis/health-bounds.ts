/**
 * When a Redis health reading is worth advice. The Redis store's advice and
 * the score both read these, so `status` and the score never disagree about
 * the same server.
 */
import type { RedisHealth } from './health';

const MiB = 1024 * 1024;

export const REDIS_HEALTH_BOUNDS = {
  /** Small data sets always show a high ratio (the allocator's base cost), so only from minUsedBytes up. */
  fragmentation: { above: 1.5, minUsedBytes: 100 * MiB },
  /** Less RSS than data: the OS swapped Redis memory out. */
  swapped: { below: 0.9, minUsedBytes: 64 * MiB },
  /** A ratio over a handful of lookups says nothing. */
  hitRatio: { below: 0.8, minLookups: 1000 },
} as const;

type Metrics = RedisHealth['metrics'];

export function isFragmented(m: Metrics): boolean {
  const ratio = m['redis.memory.fragmentation_ratio'];
  const b = REDIS_HEALTH_BOUNDS.fragmentation;
  return ratio !== null && ratio > b.above && (m['redis.memory.used'] ?? 0) >= b.minUsedBytes;
}

export function isSwapped(m: Metrics): boolean {
  const ratio = m['redis.memory.fragmentation_ratio'];
  const b = REDIS_HEALTH_BOUNDS.swapped;
  return ratio !== null && ratio < b.below && (m['redis.memory.used'] ?? 0) >= b.minUsedBytes;
}

export function hasLowHitRatio(m: Metrics): boolean {
  const ratio = m['redis.keyspace.hit_ratio'];
  const b = REDIS_HEALTH_BOUNDS.hitRatio;
  return (
    ratio !== null &&
    ratio < b.below &&
    (m['redis.keyspace.hits'] ?? 0) + (m['redis.keyspace.misses'] ?? 0) >= b.minLookups
  );
}
