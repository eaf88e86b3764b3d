/**
 * Redis health in one typed object, for `status`, the daemon's probes, the
 * score and OpenTelemetry. Numeric readings are keyed by the metric names of
 * the OpenTelemetry Collector's redis receiver (redis.memory.used,
 * redis.keys.evicted, ...) so telemetry can export them as they are; the few
 * the receiver has no name for use the same scheme (redis.keyspace.hit_ratio,
 * redis.slowlog.length). Only INFO, LATENCY LATEST and SLOWLOG LEN are used:
 * managed services that block CONFIG usually still allow them, and any part
 * that is refused is listed in `unavailable` instead of failing the whole.
 */
import type { Redis } from 'ioredis';
import { errorSummary } from './redis-errors';

export interface RedisHealthMetrics {
  'redis.uptime': number | null;
  'redis.clients.connected': number | null;
  'redis.clients.blocked': number | null;
  'redis.clients.max_input_buffer': number | null;
  'redis.memory.used': number | null;
  'redis.memory.peak': number | null;
  'redis.memory.rss': number | null;
  'redis.memory.lua': number | null;
  'redis.memory.fragmentation_ratio': number | null;
  /** 0 means no limit. */
  'redis.maxmemory': number | null;
  'redis.keys.evicted': number | null;
  'redis.keys.expired': number | null;
  'redis.keyspace.hits': number | null;
  'redis.keyspace.misses': number | null;
  /** hits / (hits + misses) since start; null before the first lookup. */
  'redis.keyspace.hit_ratio': number | null;
  'redis.commands': number | null;
  'redis.commands.processed': number | null;
  'redis.connections.received': number | null;
  'redis.connections.rejected': number | null;
  'redis.rdb.changes_since_last_save': number | null;
  'redis.latest_fork': number | null;
  'redis.slaves.connected': number | null;
  /** Keys over all databases. */
  'redis.db.keys': number | null;
  'redis.slowlog.length': number | null;
}

export interface RedisPersistence {
  rdbLastSaveStatus: 'ok' | 'err' | null;
  /** Epoch ms of the last successful RDB save. */
  rdbLastSaveAt: number | null;
  rdbSaveInProgress: boolean;
  aofEnabled: boolean;
  aofRewriteInProgress: boolean;
  aofLastWriteStatus: 'ok' | 'err' | null;
  aofLastRewriteStatus: 'ok' | 'err' | null;
  loading: boolean;
}

export interface RedisLatencyEvent {
  event: string;
  /** Epoch ms of the latest spike. */
  at: number;
  latestMs: number;
  maxMs: number;
}

export interface RedisHealth {
  /** Epoch ms of the reading. */
  at: number;
  version: string | null;
  role: string | null;
  maxmemoryPolicy: string | null;
  metrics: RedisHealthMetrics;
  persistence: RedisPersistence;
  latency: RedisLatencyEvent[];
  /** Parts the server refused or lacks, with the reason (e.g. `LATENCY LATEST: NOPERM ...`). */
  unavailable: string[];
}

/** INFO's `key:value` lines, sections flattened (key names do not collide across sections). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function num(info: Record<string, string>, key: string): number | null {
  const raw = info[key];
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

function status(raw: string | undefined): 'ok' | 'err' | null {
  return raw === 'ok' ? 'ok' : raw === 'err' ? 'err' : null;
}

export async function redisHealth(client: Redis): Promise<RedisHealth> {
  const unavailable: string[] = [];
  const [infoText, latencyRaw, slowlogLen] = await Promise.all([
    client.info().catch((err) => {
      unavailable.push(`INFO: ${errorSummary(err)}`);
      return '';
    }),
    client.call('LATENCY', 'LATEST').catch((err) => {
      unavailable.push(`LATENCY LATEST: ${errorSummary(err)}`);
      return [];
    }),
    client.call('SLOWLOG', 'LEN').catch((err) => {
      unavailable.push(`SLOWLOG LEN: ${errorSummary(err)}`);
      return null;
    }),
  ]);
  const info = parseInfo(infoText);

  let dbKeys: number | null = null;
  for (const [k, v] of Object.entries(info)) {
    if (!/^db\d+$/.test(k)) continue;
    const m = /keys=(\d+)/.exec(v);
    if (m) dbKeys = (dbKeys ?? 0) + Number(m[1]);
  }
  if (dbKeys === null && infoText) dbKeys = 0;

  const hits = num(info, 'keyspace_hits');
  const misses = num(info, 'keyspace_misses');
  const lookups = (hits ?? 0) + (misses ?? 0);

  const latency: RedisLatencyEvent[] = [];
  if (Array.isArray(latencyRaw)) {
    for (const row of latencyRaw as unknown[]) {
      if (!Array.isArray(row) || row.length < 4) continue;
      latency.push({
        event: String(row[0]),
        at: Number(row[1]) * 1000,
        latestMs: Number(row[2]),
        maxMs: Number(row[3]),
      });
    }
  }

  const lastSave = num(info, 'rdb_last_save_time');
  return {
    at: Date.now(),
    version: info.redis_version ?? null,
    role: info.role ?? null,
    maxmemoryPolicy: info.maxmemory_policy ?? null,
    metrics: {
      'redis.uptime': num(info, 'uptime_in_seconds'),
      'redis.clients.connected': num(info, 'connected_clients'),
      'redis.clients.blocked': num(info, 'blocked_clients'),
      'redis.clients.max_input_buffer': num(info, 'client_recent_max_input_buffer'),
      'redis.memory.used': num(info, 'used_memory'),
      'redis.memory.peak': num(info, 'used_memory_peak'),
      'redis.memory.rss': num(info, 'used_memory_rss'),
      'redis.memory.lua': num(info, 'used_memory_lua'),
      'redis.memory.fragmentation_ratio': num(info, 'mem_fragmentation_ratio'),
      'redis.maxmemory': num(info, 'maxmemory'),
      'redis.keys.evicted': num(info, 'evicted_keys'),
      'redis.keys.expired': num(info, 'expired_keys'),
      'redis.keyspace.hits': hits,
      'redis.keyspace.misses': misses,
      'redis.keyspace.hit_ratio': lookups > 0 ? (hits ?? 0) / lookups : null,
      'redis.commands': num(info, 'instantaneous_ops_per_sec'),
      'redis.commands.processed': num(info, 'total_commands_processed'),
      'redis.connections.received': num(info, 'total_connections_received'),
      'redis.connections.rejected': num(info, 'rejected_connections'),
      'redis.rdb.changes_since_last_save': num(info, 'rdb_changes_since_last_save'),
      'redis.latest_fork': num(info, 'latest_fork_usec'),
      'redis.slaves.connected': num(info, 'connected_slaves'),
      'redis.db.keys': dbKeys,
      'redis.slowlog.length': typeof slowlogLen === 'number' ? slowlogLen : null,
    },
    persistence: {
      rdbLastSaveStatus: status(info.rdb_last_bgsave_status),
      rdbLastSaveAt: lastSave === null ? null : lastSave * 1000,
      rdbSaveInProgress: info.rdb_bgsave_in_progress === '1',
      aofEnabled: info.aof_enabled === '1',
      aofRewriteInProgress: info.aof_rewrite_in_progress === '1',
      aofLastWriteStatus: status(info.aof_last_write_status),
      aofLastRewriteStatus: status(info.aof_last_bgrewrite_status),
      loading: info.loading === '1',
    },
    latency,
    unavailable,
  };
}
