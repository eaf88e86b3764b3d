/** The `redis` section: the desired Redis CONFIG and how to reach the server. */
import type * as V from 'valibot';
import type { Profile } from '../types';

/** Derived from the schema, so a field is written once (plus its default); types only, valibot is not loaded. */
export type RedisConfig = V.InferOutput<ReturnType<typeof redisSchema>>;

export const redisDefaults: RedisConfig = {
  enabled: true,
  host: '127.0.0.1',
  port: 6379,
  tls: false,
  connectTimeout: 5000,
  commandTimeout: 5000,
  connectRetries: 3,
  mode: 'manage',
  maxMemoryHeadroom: 0.2,
  forceMaxMemory: false,
  leaseTtl: 30_000,
  keyPrefix: 'titan-perf',
  maxMemory: '2gb',
  maxMemoryPolicy: 'allkeys-lru',
  appendOnly: true,
  appendFsync: 'everysec',
  lazyfreeLazyEviction: true,
  lazyfreeLazyExpire: true,
  lazyfreeLazyServerDel: true,
  replicaLazyFlush: true,
  tcpKeepalive: 300,
  tcpBacklog: 511,
  hz: 10,
  latencyMonitorThreshold: 100,
  rdbCompression: true,
  aofUseRdbPreamble: true,
  configRewrite: false,
};

export const redisProfiles: Record<Profile, Partial<RedisConfig>> = {
  default: {},
  // Speed over durability: no fsync, no AOF; a crash can lose recent writes.
  hft: {
    appendOnly: false,
    appendFsync: 'no',
    hz: 100,
    latencyMonitorThreshold: 1,
    tcpKeepalive: 60,
  },
};

/** 1 PiB: above any server's memory, and still an exact integer for Redis and JavaScript. */
export const MAX_MEMORY_BYTES = 1024 ** 5;

export const MAXMEMORY_POLICIES = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
] as const;

export function redisSchema() {
  const { v, int, num, bool, oneOf, str, size, section } = require('../rules') as typeof import('../rules');
  return section({
    /** Manage Redis at all (the sidecar and `applyAllOptimizations`). */
    enabled: bool(),
    host: str('a host name or IP address', 253),
    port: int(1, 65535),
    /** `redis://` or `rediss://` URL; wins over host/port. Credentials in it are never logged. */
    url: v.optional(
      v.pipe(str('a redis:// or rediss:// URL'), v.regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')),
    ),
    username: v.optional(str('an ACL user name', 256)),
    /** Name of an environment variable holding the password (preferred over a literal). */
    passwordEnv: v.optional(
      v.pipe(str('an environment variable name'), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')),
    ),
    /** File holding the password (a mounted Kubernetes secret). */
    passwordFile: v.optional(str('a file path')),
    tls: bool(),
    /** PEM file of the CA that signed the server's certificate (default: the system's CAs). */
    tlsCaFile: v.optional(str('a file path')),
    connectTimeout: int(1, 600_000, 'ms'),
    /**
     * ms every command may take before it fails (TITAN_PERF_REDIS_TIMEOUT): a
     * frozen server (SIGSTOP, swapping, a long-running command) must not hang a
     * pass, a rollback or the daemon's shutdown. Also bounds the handshake.
     */
    commandTimeout: int(100, 600_000, 'ms'),
    /** Reconnect attempts (with back-off) before giving up; the sidecar then reports not ready. */
    connectRetries: int(0, 20),
    /**
     * `manage` writes CONFIG SET; `advisory` never writes (health and
     * recommendations only). A server that blocks CONFIG is advisory regardless.
     */
    mode: oneOf(['manage', 'advisory'] as const),
    /** Refuse a maxmemory below used memory × (1 + headroom): a lower one evicts data at once. */
    maxMemoryHeadroom: num(0, 10, 'a fraction of used memory'),
    /** Apply a maxmemory below the guard anyway (the CLI's `--force`). */
    forceMaxMemory: bool(),
    /** How long the configuration lease lasts without renewal, ms (the owner renews at a third of it). */
    leaseTtl: int(1000, 3_600_000, 'ms'),
    /** Prefix of the keys titan-perf keeps in this Redis (lease, journal of originals). */
    keyPrefix: v.pipe(
      str('a key prefix of letters, digits, -, _, : or .', 100),
      v.regex(/^[A-Za-z0-9_.:-]+$/, 'a key prefix of letters, digits, -, _, : or .'),
    ),
    maxMemory: size("a size such as '2gb', '512mb', or '0' for no limit", MAX_MEMORY_BYTES),
    maxMemoryPolicy: oneOf(MAXMEMORY_POLICIES),
    appendOnly: bool(),
    appendFsync: oneOf(['always', 'everysec', 'no'] as const),
    lazyfreeLazyEviction: bool(),
    lazyfreeLazyExpire: bool(),
    lazyfreeLazyServerDel: bool(),
    replicaLazyFlush: bool(),
    tcpKeepalive: int(0, 7200, 's'),
    tcpBacklog: int(1, 65535),
    hz: int(1, 500),
    latencyMonitorThreshold: int(0, 60_000, 'ms'),
    rdbCompression: bool(),
    aofUseRdbPreamble: bool(),
    /** Persist applied values to redis.conf with CONFIG REWRITE. */
    configRewrite: bool(),
  });
}
