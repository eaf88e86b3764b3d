/**
 * The catalogue of Redis CONFIG parameters titan-perf manages: which config
 * field feeds each one, how its value is written so that a read-back compares
 * equal (Redis answers `maxmemory` in bytes and booleans as yes/no), and what
 * each one trades. Nothing outside this list is ever written.
 */
import type { RedisConfig } from '../config/types';
import { parseSize } from '../config/size';

export type RedisParamKind = 'bytes' | 'yesno' | 'int' | 'enum';

export interface RedisParameter {
  /** The name CONFIG GET/SET uses. */
  key: string;
  field: keyof RedisConfig;
  kind: RedisParamKind;
  /** Cannot change at runtime: reported (current vs desired), never attempted. */
  immutable?: boolean;
  /** What the setting buys and what it costs, in one sentence (plan output, README). */
  trades: string;
}

export const REDIS_PARAMETERS: readonly RedisParameter[] = [
  {
    key: 'maxmemory',
    field: 'maxMemory',
    kind: 'bytes',
    trades: 'bounds memory; below the data set it evicts keys at once',
  },
  {
    key: 'maxmemory-policy',
    field: 'maxMemoryPolicy',
    kind: 'enum',
    trades: 'what to evict at the limit; noeviction refuses writes instead',
  },
  {
    key: 'appendonly',
    field: 'appendOnly',
    kind: 'yesno',
    trades: 'durability of every write against disk I/O; switching on starts a rewrite',
  },
  {
    key: 'appendfsync',
    field: 'appendFsync',
    kind: 'enum',
    trades: 'fsync per write (always), per second (everysec) or by the OS (no): latency against loss on crash',
  },
  {
    key: 'lazyfree-lazy-eviction',
    field: 'lazyfreeLazyEviction',
    kind: 'yesno',
    trades: 'frees evicted values in a background thread instead of blocking',
  },
  {
    key: 'lazyfree-lazy-expire',
    field: 'lazyfreeLazyExpire',
    kind: 'yesno',
    trades: 'frees expired values in a background thread instead of blocking',
  },
  {
    key: 'lazyfree-lazy-server-del',
    field: 'lazyfreeLazyServerDel',
    kind: 'yesno',
    trades: 'implicit deletes (RENAME, SET over a big key) free in the background',
  },
  {
    key: 'replica-lazy-flush',
    field: 'replicaLazyFlush',
    kind: 'yesno',
    trades: 'a replica flushes its old data set in the background on full sync',
  },
  {
    key: 'tcp-keepalive',
    field: 'tcpKeepalive',
    kind: 'int',
    trades: 'detects dead peers sooner against a little idle traffic',
  },
  {
    key: 'hz',
    field: 'hz',
    kind: 'int',
    trades: 'background tasks (expiry, timeouts) run more often: lower tail latency for more idle CPU',
  },
  {
    key: 'latency-monitor-threshold',
    field: 'latencyMonitorThreshold',
    kind: 'int',
    trades: 'records events slower than this many ms for LATENCY LATEST (0 = off)',
  },
  { key: 'rdbcompression', field: 'rdbCompression', kind: 'yesno', trades: 'smaller RDB files for CPU at save time' },
  {
    key: 'aof-use-rdb-preamble',
    field: 'aofUseRdbPreamble',
    kind: 'yesno',
    trades: 'faster AOF rewrites and restarts (RDB body plus AOF tail)',
  },
  {
    key: 'tcp-backlog',
    field: 'tcpBacklog',
    kind: 'int',
    immutable: true,
    trades: 'accept queue for connection bursts (also capped by net.core.somaxconn); only at start',
  },
];

const BY_KEY = new Map(REDIS_PARAMETERS.map((p) => [p.key, p]));

export function redisParameter(key: string): RedisParameter | undefined {
  return BY_KEY.get(key);
}

/**
 * The text Redis itself answers to CONFIG GET for this value, so that
 * "desired" and "read back" compare as strings: sizes in bytes, booleans
 * as yes/no, enums in lower case.
 */
export function canonicalValue(param: RedisParameter, value: unknown): string {
  switch (param.kind) {
    case 'bytes':
      return String(parseSize(typeof value === 'number' ? value : String(value)));
    case 'yesno':
      if (value === true || value === 'yes' || value === 'true') return 'yes';
      if (value === false || value === 'no' || value === 'false') return 'no';
      throw new RangeError(`${param.key}: not a yes/no value: ${JSON.stringify(value)}`);
    case 'int': {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new RangeError(`${param.key}: not an integer: ${JSON.stringify(value)}`);
      return String(n);
    }
    case 'enum':
      return String(value).trim().toLowerCase();
  }
}

/** Higher is more durable; moving down loses more writes on a crash. */
export const APPENDFSYNC_DURABILITY: Record<string, number> = { always: 3, everysec: 2, no: 1 };

export const APPENDFSYNC_LOSS: Record<string, string> = {
  always: 'no acknowledged write',
  everysec: 'up to about 1 s of writes',
  no: 'whatever the OS has not flushed yet (typically up to 30 s of writes)',
};
