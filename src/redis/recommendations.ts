/**
 * Advice from desired values and health readings: the whole output of
 * advisory mode (a managed Redis titan-perf may not change), and a useful
 * addition to `status` everywhere else.
 */
import type { RedisHealth } from './health';
import { hasLowHitRatio, isFragmented, REDIS_HEALTH_BOUNDS } from './health-bounds';
import { REDIS_PARAMETERS } from './parameters';

export interface RedisRecommendation {
  /** A CONFIG parameter, or a health topic (`fragmentation`, `persistence`, ...). */
  key: string;
  /** Null when the server does not reveal it (CONFIG refused and INFO silent). */
  current: string | null;
  desired?: string;
  message: string;
}

export function redisRecommendations(
  current: Map<string, string | null>,
  desired: Map<string, string>,
  health: RedisHealth,
): RedisRecommendation[] {
  const out: RedisRecommendation[] = [];
  for (const p of REDIS_PARAMETERS) {
    const want = desired.get(p.key);
    const now = current.get(p.key) ?? null;
    if (want === undefined || now === want) continue;
    const how = p.immutable ? ' (in redis.conf; needs a restart)' : '';
    out.push({ key: p.key, current: now, desired: want, message: `set ${p.key} to ${want}${how}: ${p.trades}` });
  }
  const m = health.metrics;
  if (isFragmented(m)) {
    const above = REDIS_HEALTH_BOUNDS.fragmentation.above;
    const frag = m['redis.memory.fragmentation_ratio'] as number;
    out.push({
      key: 'fragmentation',
      current: frag.toFixed(2),
      message: `memory fragmentation above ${above}: consider activedefrag yes, or a restart in a quiet window`,
    });
  }
  if (hasLowHitRatio(m)) {
    const below = REDIS_HEALTH_BOUNDS.hitRatio.below;
    const ratio = m['redis.keyspace.hit_ratio'] as number;
    out.push({
      key: 'hit_ratio',
      current: ratio.toFixed(3),
      message: `keyspace hit ratio below ${below}: check key TTLs, maxmemory and the eviction policy`,
    });
  }
  if ((m['redis.keys.evicted'] ?? 0) > 0)
    out.push({
      key: 'evictions',
      current: String(m['redis.keys.evicted']),
      message: 'keys were evicted at maxmemory: raise maxmemory if these keys matter',
    });
  if (health.persistence.rdbLastSaveStatus === 'err' || health.persistence.aofLastWriteStatus === 'err')
    out.push({
      key: 'persistence',
      current: 'err',
      message: 'the last RDB save or AOF write failed: check disk space and permissions of the Redis data dir',
    });
  for (const e of health.latency)
    out.push({
      key: `latency:${e.event}`,
      current: `${e.latestMs} ms`,
      message: `latency spikes in '${e.event}' (max ${e.maxMs} ms): see LATENCY DOCTOR`,
    });
  return out;
}
