/**
 * The rules that turn readings into recommendations. Every threshold and
 * penalty lives in RULES so the README table and the code cannot disagree
 * (the README's "Score and recommendations" section lists this object).
 */
import { nodejsDefaults } from '../config/sections/nodejs';
import type { PlanEntry } from '../engine/types';
import type { DbPoolReading, GcReading, Readings, Verdict } from '../runtime/runtime-readings';
import type { RedisHealth } from '../redis/health';
import { hasLowHitRatio, isFragmented, isSwapped, REDIS_HEALTH_BOUNDS } from '../redis/health-bounds';
import { delayCpuWait, METRICS as THRESHOLD_METRICS } from '../runtime/thresholds';
import type { FindingSeverity, Recommendation, ScoreInput } from './types';

const MiB = 1024 * 1024;

export const RULES = {
  /** p99 above nodejs.maxEventLoopDelay (critical from 10x it, the runtime agent's rule). */
  eventLoopDelay: { warning: 15, critical: 30 },
  /** A stall of the app at or above nodejs.maxEventLoopStall in the interval (critical from 10x it, like its warning). */
  eventLoopStall: { warning: 15, critical: 30 },
  /** Utilization above nodejs.maxEventLoopUtilization (critical from 0.99). */
  eventLoopUtilization: { warning: 10, critical: 20 },
  /** Share of the interval spent in GC pauses. */
  gcPauseShare: { warningAbove: 0.05, criticalAbove: 0.15, warning: 10, critical: 20 },
  /** heap used / heap limit above nodejs.maxHeapUsage (critical from 0.95). */
  heapUsage: { warning: 15, critical: 30 },
  /** A fetch origin with requests waiting while every allowed connection is busy. */
  fetchPoolSaturated: { warning: 10 },
  /** A database pool with waiters while every connection is borrowed; any acquire timeout is critical. */
  dbPool: { warning: 10, critical: 20 },
  /** Redis not reachable (or health unreadable) while redis.enabled. */
  redisUnreachable: { warning: 15 },
  /** Bounds shared with the Redis store's advice (REDIS_HEALTH_BOUNDS); the penalties are the score's own. */
  redisFragmentation: { ...REDIS_HEALTH_BOUNDS.fragmentation, warning: 10 },
  redisSwapped: { ...REDIS_HEALTH_BOUNDS.swapped, critical: 20 },
  /** Any evicted key since the server started. */
  redisEvictions: { warning: 10 },
  /** keyspace hit ratio below this, over at least minLookups lookups. */
  redisHitRatio: { ...REDIS_HEALTH_BOUNDS.hitRatio, info: 5 },
  /** Any LATENCY LATEST event. */
  redisLatency: { warning: 10 },
  /** The last RDB save or AOF write failed. */
  redisPersistence: { critical: 20 },
  /** Per drifted setting, capped at cap. */
  drift: { warning: 10, cap: 30 },
  /** Heap/GC verdicts of the runtime agent. */
  verdict: { critical: 25, warning: 10, info: 0 },
} as const;

type Draft = Omit<Recommendation, 'message'> & { why: string };

function finish(d: Draft): Recommendation {
  const { why, ...rest } = d;
  return {
    ...rest,
    message: `${d.reading} is ${fmt(d.value)} (threshold ${fmt(d.threshold)}): ${why}; change: ${d.change}`,
  };
}

function fmt(x: number | string): string {
  if (typeof x === 'string') return x;
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toFixed(3)));
}

export function nodejsFindings(input: ScoreInput): Recommendation[] {
  const out: Draft[] = [];
  const r = input.readings;
  if (r) {
    out.push(...thresholdFindings(input, r));
    const stall = stallFinding(r, input.nodejs.maxEventLoopStall ?? nodejsDefaults.maxEventLoopStall);
    if (stall) out.push(stall);
    const gc = gcFinding(r.gc, r.heap.oldGeneration?.limit ?? r.heap.limit);
    if (gc) out.push(gc);
  }
  for (const v of input.verdicts ?? []) out.push(verdictFinding(v));
  return out.map(finish);
}

/**
 * The runtime agent's own threshold rules (the ones behind its
 * performance-warning events) decide breach and severity, so the score and
 * the warnings can never disagree; this only adds the penalty and the advice.
 */
function thresholdFindings(input: ScoreInput, r: Readings): Draft[] {
  const out: Draft[] = [];
  for (const m of THRESHOLD_METRICS) {
    const value = m.value(r);
    const threshold = m.threshold(input.nodejs);
    if (!(value > threshold)) continue;
    const critical = m.critical(value, threshold);
    const advice = ADVICE[m.name]?.(r);
    if (!advice) continue;
    out.push({
      area: 'nodejs',
      severity: critical ? 'critical' : 'warning',
      reading: m.unit ? `${m.label} (${m.unit})` : m.label,
      value,
      threshold,
      ...advice(critical),
    });
  }
  return out;
}

type Advice = (critical: boolean) => Pick<Draft, 'id' | 'penalty' | 'why' | 'change'>;

const ADVICE: Record<string, (r: Readings) => Advice> = {
  'eventLoop.delay.p99': (r) => (critical) => ({
    id: 'nodejs.eventloop.delay',
    penalty: critical ? RULES.eventLoopDelay.critical : RULES.eventLoopDelay.warning,
    ...(delayCpuWait(r)
      ? {
          why: "the main thread may have waited for a CPU for half of its slowest turns or more: the container's CPU limit or the node's other work can have made the delay, not the code",
          change:
            'raise the CPU request and limit (or remove the limit); if the delay stays with CPU to spare, ' +
            'profile with NODE_OPTIONS=--cpu-prof and move the CPU-bound work to worker_threads',
        }
      : {
          why: 'synchronous work blocks the loop and every request waits behind it',
          change:
            'profile with NODE_OPTIONS=--cpu-prof and move the CPU-bound work to worker_threads ' +
            '(nodejs.maxEventLoopDelay only moves the alarm, not the delay)',
        }),
  }),
  'eventLoop.utilization': () => (critical) => ({
    id: 'nodejs.eventloop.utilization',
    penalty: critical ? RULES.eventLoopUtilization.critical : RULES.eventLoopUtilization.warning,
    why: 'the main thread is busy almost all the time, so latency grows with load',
    change: 'add replicas or CPU (scale out), or move work to worker_threads',
  }),
  'heap.usage': (r) => (critical) => {
    // The flag sets the old generation, so the advice scales the old generation's limit, not V8's whole heap limit.
    const limitMiB = Math.round((r.heap.oldGeneration?.limit ?? r.heap.limit) / MiB);
    return {
      id: 'nodejs.heap.usage',
      penalty: critical ? RULES.heapUsage.critical : RULES.heapUsage.warning,
      why: `near its limit of ${limitMiB} MiB V8 collects constantly, then aborts with an out-of-memory crash`,
      change: `NODE_OPTIONS=--max-old-space-size=${Math.ceil(limitMiB * 1.5)} (and nodejs.maxOldSpaceSize to match; keep it below the container limit), or find the leak with --heapsnapshot-near-heap-limit=1`,
    };
  },
};

/**
 * One long block is a stall, not a sustained delay (the delay threshold
 * needs three slow turns in an interval): it is scored on its own, so that
 * a single 300 ms block in an otherwise idle interval still costs points.
 */
function stallFinding(r: Readings, threshold: number): Draft | undefined {
  const s = r.eventLoop.stalls;
  if (!s || s.count === 0 || !(s.longestMs >= threshold)) return undefined;
  const critical = s.longestMs >= threshold * 10;
  const more = s.count > 1 ? ` (${s.count} stalls in the interval)` : '';
  return {
    area: 'nodejs',
    id: 'nodejs.eventloop.stall',
    severity: critical ? 'critical' : 'warning',
    reading: 'longest event-loop stall (ms)',
    value: s.longestMs,
    threshold,
    penalty: critical ? RULES.eventLoopStall.critical : RULES.eventLoopStall.warning,
    ...(s.longestCpuStarved
      ? {
          why: `the main thread waited for a CPU for most of it: the container's CPU limit or the node's other work held it${more}`,
          change: 'raise the CPU request and limit (or remove the limit) so the main thread is not throttled',
        }
      : {
          why: `one synchronous block held every request in flight for that long${more}`,
          change:
            'find the code from the stall warning (nodejs.stallCapture.enabled=true adds its stack) and move it to worker_threads or split it',
        }),
  };
}

function gcFinding(gc: GcReading, oldGenerationLimit: number): Draft | undefined {
  const rule = RULES.gcPauseShare;
  if (gc.pauseShare <= rule.warningAbove) return undefined;
  const critical = gc.pauseShare > rule.criticalAbove;
  let minor = 0;
  let total = 0;
  for (const p of gc.pauses) {
    total += p.durationMs;
    if (p.kind === 'minor') minor += p.durationMs;
  }
  // Scavenges dominate when short-lived garbage overflows the young generation;
  // a larger semi-space fixes that, a larger old space does not.
  const change =
    total > 0 && minor / total > 0.5
      ? 'NODE_OPTIONS=--max-semi-space-size=64 (larger young generation), or allocate less per request'
      : `NODE_OPTIONS=--max-old-space-size=${Math.ceil((oldGenerationLimit / MiB) * 1.5)} (more old space, if the container allows), or allocate less`;
  return {
    id: 'nodejs.gc.pause',
    area: 'nodejs',
    severity: critical ? 'critical' : 'warning',
    reading: 'GC pause share of the interval',
    value: gc.pauseShare,
    threshold: rule.warningAbove,
    penalty: critical ? rule.critical : rule.warning,
    why: 'garbage collection pauses stop every request',
    change,
  };
}

function verdictFinding(v: Verdict): Draft {
  return {
    id: `nodejs.verdict.${v.id}`,
    area: 'nodejs',
    severity: v.severity,
    reading: `heap/GC check ${v.id}`,
    value: v.severity,
    threshold: 'none',
    penalty: RULES.verdict[v.severity],
    why: v.message,
    change: v.fix ?? 'see the message',
  };
}

export function poolFindings(input: ScoreInput): Recommendation[] {
  const out: Draft[] = [];
  const r = input.readings;
  if (!r) return [];
  const maxConnections = input.nodejs.connectionPooling.maxConnections;
  for (const p of r.pools) {
    if (p.pending > 0 && p.connected >= maxConnections) {
      out.push({
        id: 'pools.fetch.saturated',
        area: 'pools',
        severity: 'warning',
        reading: `fetch requests waiting for a connection to ${p.origin}`,
        value: p.pending,
        threshold: 0,
        penalty: RULES.fetchPoolSaturated.warning,
        why: `all ${maxConnections} connections to the origin are busy`,
        change: `nodejs.connectionPooling.maxConnections=${maxConnections * 2} (if the server accepts that many)`,
      });
    }
  }
  for (const p of r.dbPools) {
    const d = dbPoolFinding(p);
    if (d) out.push(d);
  }
  return out.map(finish);
}

function dbPoolFinding(p: DbPoolReading): Draft | undefined {
  const change = `createDatabaseConnectionPool('${p.name}', ..., { max: ${p.max * 2} }) or nodejs.connectionPooling.maxConnections=${p.max * 2}, or hold connections for less time`;
  if (p.timeouts > 0) {
    return {
      id: 'pools.db.timeouts',
      area: 'pools',
      severity: 'critical',
      reading: `acquire timeouts of database pool '${p.name}'`,
      value: p.timeouts,
      threshold: 0,
      penalty: RULES.dbPool.critical,
      why: `callers gave up waiting for one of its ${p.max} connections`,
      change,
    };
  }
  if (p.pending > 0 && p.used >= p.max) {
    return {
      id: 'pools.db.saturated',
      area: 'pools',
      severity: 'warning',
      reading: `callers waiting on database pool '${p.name}' (wait max ${Math.round(p.waitMsMax)} ms)`,
      value: p.pending,
      threshold: 0,
      penalty: RULES.dbPool.warning,
      why: `all ${p.max} connections are borrowed`,
      change,
    };
  }
  return undefined;
}

export function redisFindings(input: ScoreInput): Recommendation[] {
  const h = input.redis;
  if (!h) return [];
  if ('error' in h) {
    return [
      finish({
        id: 'redis.unreachable',
        area: 'redis',
        severity: 'warning',
        reading: 'Redis health',
        value: h.error,
        threshold: 'reachable',
        penalty: RULES.redisUnreachable.warning,
        why: 'nothing about Redis can be checked or tuned',
        change: 'check redis.host / redis.port / redis.url and the password source, or set redis.enabled=false',
      }),
    ];
  }
  const m = h.metrics;
  const out: Draft[] = [];
  const frag = fragmentationFinding(h);
  if (frag) out.push(frag);
  const evicted = m['redis.keys.evicted'] ?? 0;
  if (evicted > 0) {
    out.push({
      id: 'redis.evictions',
      area: 'redis',
      severity: 'warning',
      reading: 'Redis evicted keys since start',
      value: evicted,
      threshold: 0,
      penalty: RULES.redisEvictions.warning,
      why: 'the data set does not fit in maxmemory, so keys are being dropped',
      change: `raise redis.maxMemory (now ${input.redisConfig?.maxMemory ?? 'unknown'}) if the host has the memory, or accept eviction for a pure cache`,
    });
  }
  const rule = RULES.redisHitRatio;
  if (hasLowHitRatio(m)) {
    out.push({
      id: 'redis.hit-ratio',
      area: 'redis',
      severity: 'info',
      reading: 'Redis keyspace hit ratio',
      value: m['redis.keyspace.hit_ratio'] as number,
      threshold: rule.below,
      penalty: rule.info,
      why: 'most lookups miss, so callers fall through to the slower source',
      change: evicted > 0 ? 'raise redis.maxMemory (keys are being evicted)' : 'review key TTLs and what is cached',
    });
  }
  for (const e of h.latency) {
    out.push({
      id: `redis.latency.${e.event}`,
      area: 'redis',
      severity: 'warning',
      reading: `Redis latency event '${e.event}' max (ms)`,
      value: e.maxMs,
      threshold: input.redisConfig?.latencyMonitorThreshold ?? 'latency-monitor-threshold',
      penalty: RULES.redisLatency.warning,
      why: 'the server itself stalled',
      change: latencyChange(e.event),
    });
  }
  const p = h.persistence;
  if (p.rdbLastSaveStatus === 'err' || p.aofLastWriteStatus === 'err') {
    out.push({
      id: 'redis.persistence',
      area: 'redis',
      severity: 'critical',
      reading: 'Redis last RDB save / AOF write',
      value: 'err',
      threshold: 'ok',
      penalty: RULES.redisPersistence.critical,
      why: 'writes are not reaching disk; with stop-writes-on-bgsave-error Redis also refuses writes',
      change: 'free disk space and fix permissions of the Redis data dir (CONFIG GET dir)',
    });
  }
  return out.map(finish);
}

function fragmentationFinding(h: RedisHealth): Draft | undefined {
  const ratio = h.metrics['redis.memory.fragmentation_ratio'];
  const used = h.metrics['redis.memory.used'] ?? 0;
  if (ratio === null) return undefined;
  const hi = RULES.redisFragmentation;
  if (isFragmented(h.metrics)) {
    return {
      id: 'redis.fragmentation',
      area: 'redis',
      severity: 'warning',
      reading: 'Redis mem_fragmentation_ratio',
      value: ratio,
      threshold: hi.above,
      penalty: hi.warning,
      why: `about ${Math.round((used * (ratio - 1)) / MiB)} MiB of RSS holds no data`,
      change: 'CONFIG SET activedefrag yes (jemalloc builds), or restart the replica/primary in a failover window',
    };
  }
  const lo = RULES.redisSwapped;
  if (isSwapped(h.metrics)) {
    return {
      id: 'redis.swapped',
      area: 'redis',
      severity: 'critical',
      reading: 'Redis mem_fragmentation_ratio',
      value: ratio,
      threshold: lo.below,
      penalty: lo.critical,
      why: 'less RSS than data means the OS swapped Redis memory out',
      change:
        'sysctl vm.swappiness=1 (system.kernelParams.vmSwappiness) and give the host more memory than redis.maxMemory',
    };
  }
  return undefined;
}

function latencyChange(event: string): string {
  if (event.startsWith('fork'))
    return 'fork for RDB/AOF rewrite stalls: schedule BGSAVE off-peak or set redis.appendOnly=false on latency-critical instances';
  if (event.startsWith('aof'))
    return 'disk stalls on AOF writes: redis.appendFsync=everysec (or no, giving up durability)';
  if (event.startsWith('expire')) return 'redis.lazyfreeLazyExpire=true';
  if (event.startsWith('eviction')) return 'redis.lazyfreeLazyEviction=true';
  return 'slow commands: look at SLOWLOG GET and split O(N) commands (KEYS, large ranges, big DEL)';
}

export function driftFindings(input: ScoreInput): Recommendation[] {
  const out: Draft[] = [];
  const drifted: PlanEntry[] = input.drift ?? [];
  let budget: number = RULES.drift.cap;
  for (const d of drifted) {
    const penalty = Math.min(RULES.drift.warning, budget);
    budget -= penalty;
    const area = d.store === 'redis' ? 'redis' : 'system';
    out.push({
      id: `${area}.drift.${d.key}`,
      area,
      severity: 'warning' as FindingSeverity,
      reading: `${d.store} setting ${d.key}`,
      value: d.current ?? 'missing',
      threshold: d.desired,
      penalty,
      why: 'it drifted from the applied value',
      change:
        d.store === 'sysctl'
          ? `sysctl -w ${d.key}=${d.desired} (or titan-perf-sidecar apply / run, which repairs drift)`
          : d.store === 'redis'
            ? `CONFIG SET ${d.key} ${d.desired} (or titan-perf-sidecar apply; redis.configRewrite keeps it over restarts)`
            : `titan-perf-sidecar apply (sets ${d.key} back to ${d.desired})`,
    });
  }
  return out.map(finish);
}
