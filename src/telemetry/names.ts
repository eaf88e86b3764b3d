/**
 * Every metric titan-perf reports, in one table: the instruments are built
 * from it, the README's "Metrics" section lists it, and the tests check an
 * export against it. OpenTelemetry semantic-convention names where one
 * exists (checked against @opentelemetry/semantic-conventions 1.45); titan-perf's
 * own under the `titan_perf.` prefix; Redis under the Collector's redis
 * receiver names.
 */

export type InstrumentKind = 'gauge' | 'counter' | 'updowncounter' | 'histogram';

export interface MetricSpec {
  name: string;
  /** Observable unless `histogram` or `counter` with `recorded: true`. */
  kind: InstrumentKind;
  /** Recorded on an event rather than observed at collection time. */
  recorded?: boolean;
  unit: string;
  attributes: readonly string[];
  description: string;
  face: 'preload' | 'sidecar';
}

export const PREFIX = 'titan_perf.';
/** The bucket every origin or pool past the cap is folded into. */
export const OVERFLOW = '_other';
/** Instrumentation scope of titan-perf's meter. */
export const METER_NAME = 'titan-perf';

const DELAY_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
export type DelayStat = (typeof DELAY_STATS)[number];

/** GC pauses are mostly sub-10 ms: finer low buckets than the convention's [0.01, 0.1, 1, 10] advice. */
export const GC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 10];

/** Event-loop stalls: from a few ms (a trading service's budget) to a 10 s hang. */
export const STALL_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

const ORIGIN_ATTRS = ['server.address', 'server.port', 'url.scheme'] as const;

export const PRELOAD_METRICS: readonly MetricSpec[] = [
  ...DELAY_STATS.map(
    (s): MetricSpec => ({
      name: `nodejs.eventloop.delay.${s}`,
      kind: 'gauge',
      unit: 's',
      attributes: [],
      description:
        s === 'min' || s === 'max' || s === 'mean'
          ? `Event-loop delay ${s} over the readings since the last collection (perf_hooks.monitorEventLoopDelay).`
          : `Event-loop delay ${s} of the worst sampling interval since the last collection.`,
      face: 'preload',
    }),
  ),
  {
    name: 'nodejs.eventloop.utilization',
    kind: 'gauge',
    unit: '1',
    attributes: [],
    description: 'Event-loop utilization over the readings since the last collection, 0..1.',
    face: 'preload',
  },
  {
    name: 'nodejs.eventloop.time',
    kind: 'counter',
    unit: 's',
    attributes: ['nodejs.eventloop.state'],
    description: 'Cumulative time the event loop spent active or idle.',
    face: 'preload',
  },
  {
    name: 'v8js.gc.duration',
    kind: 'histogram',
    recorded: true,
    unit: 's',
    attributes: ['v8js.gc.type'],
    description: 'Duration of each garbage-collection pause, by type (major, minor, incremental, weakcb).',
    face: 'preload',
  },
  {
    name: 'v8js.memory.heap.used',
    kind: 'gauge',
    unit: 'By',
    attributes: ['v8js.heap.space.name'],
    description: 'Heap memory used, per V8 heap space.',
    face: 'preload',
  },
  {
    name: 'v8js.memory.heap.space.size',
    kind: 'gauge',
    unit: 'By',
    attributes: ['v8js.heap.space.name'],
    description: 'Heap memory reserved, per V8 heap space.',
    face: 'preload',
  },
  {
    name: 'v8js.memory.heap.space.available_size',
    kind: 'gauge',
    unit: 'By',
    attributes: ['v8js.heap.space.name'],
    description: 'Heap memory still available, per V8 heap space.',
    face: 'preload',
  },
  {
    name: 'v8js.memory.heap.space.physical_size',
    kind: 'gauge',
    unit: 'By',
    attributes: ['v8js.heap.space.name'],
    description: 'Committed physical memory, per V8 heap space.',
    face: 'preload',
  },
  {
    name: 'process.memory.usage',
    kind: 'gauge',
    unit: 'By',
    attributes: [],
    description: 'Resident set size of the process.',
    face: 'preload',
  },
  {
    name: `${PREFIX}eventloop.stalls`,
    kind: 'counter',
    recorded: true,
    unit: '{stall}',
    attributes: [],
    description:
      'Event-loop turns at or above nodejs.maxEventLoopStall since start (cumulative: a scrape at any interval, or a second scraper, sees every stall).',
    face: 'preload',
  },
  {
    name: `${PREFIX}eventloop.stall.duration`,
    kind: 'histogram',
    recorded: true,
    unit: 's',
    attributes: [],
    description: 'Length of each event-loop stall at or above nodejs.maxEventLoopStall (buckets 5 ms to 10 s).',
    face: 'preload',
  },
  {
    name: `${PREFIX}self.time`,
    kind: 'counter',
    unit: 's',
    attributes: [],
    description:
      "titan-perf's own time on the main thread (readings, SDK loading, collection, export): never counted against the app.",
    face: 'preload',
  },
  {
    name: `${PREFIX}heap.limit`,
    kind: 'gauge',
    unit: 'By',
    attributes: [],
    description: "V8's heap size limit (heap_size_limit): compare v8js.memory.heap.used summed over spaces against it.",
    face: 'preload',
  },
  {
    name: `${PREFIX}gc.pause_share`,
    kind: 'gauge',
    unit: '1',
    attributes: [],
    description: 'Share of the last sampling interval spent in GC pauses, 0..1.',
    face: 'preload',
  },
  {
    name: 'http.client.open_connections',
    kind: 'updowncounter',
    unit: '{connection}',
    attributes: ['http.connection.state', ...ORIGIN_ATTRS],
    description: `Outbound fetch connections per origin, active or idle (origins past telemetry.maxOrigins: server.address=${OVERFLOW}).`,
    face: 'preload',
  },
  {
    name: 'http.client.active_requests',
    kind: 'updowncounter',
    unit: '{request}',
    attributes: [...ORIGIN_ATTRS],
    description: 'Outbound fetch requests being sent or awaiting a response, per origin.',
    face: 'preload',
  },
  {
    name: `${PREFIX}http.client.queued_requests`,
    kind: 'updowncounter',
    unit: '{request}',
    attributes: [...ORIGIN_ATTRS],
    description: 'Outbound fetch requests waiting for a free connection, per origin (pool saturation).',
    face: 'preload',
  },
  {
    name: 'db.client.connection.count',
    kind: 'updowncounter',
    unit: '{connection}',
    attributes: ['db.client.connection.state', 'db.client.connection.pool.name'],
    description: 'Database pool connections, idle or used, per pool.',
    face: 'preload',
  },
  {
    name: 'db.client.connection.max',
    kind: 'updowncounter',
    unit: '{connection}',
    attributes: ['db.client.connection.pool.name'],
    description: 'Maximum connections allowed per database pool.',
    face: 'preload',
  },
  {
    name: 'db.client.connection.pending_requests',
    kind: 'updowncounter',
    unit: '{request}',
    attributes: ['db.client.connection.pool.name'],
    description: 'Requests waiting for a database pool connection.',
    face: 'preload',
  },
  {
    name: 'db.client.connection.timeouts',
    kind: 'counter',
    unit: '{timeout}',
    attributes: ['db.client.connection.pool.name'],
    description: 'Cumulative timeouts acquiring a database pool connection.',
    face: 'preload',
  },
  {
    name: `${PREFIX}db.client.connection.wait_time.max`,
    kind: 'gauge',
    unit: 's',
    attributes: ['db.client.connection.pool.name'],
    description: 'Longest wait for a database pool connection over the last sampling interval.',
    face: 'preload',
  },
  {
    name: `${PREFIX}warnings`,
    kind: 'counter',
    recorded: true,
    unit: '{warning}',
    attributes: [`${PREFIX}warning.metric`, `${PREFIX}warning.severity`],
    description: 'performance-warning events raised (a threshold held past its limit).',
    face: 'preload',
  },
  {
    name: `${PREFIX}warning.active`,
    kind: 'gauge',
    unit: '{warning}',
    attributes: [`${PREFIX}warning.metric`],
    description: '1 while a performance warning holds for the metric, 0 once it recovered.',
    face: 'preload',
  },
  {
    name: `${PREFIX}verdicts`,
    kind: 'gauge',
    unit: '{verdict}',
    attributes: [`${PREFIX}verdict.id`, `${PREFIX}verdict.severity`],
    description: 'Heap/GC flag verdicts currently standing (1 each).',
    face: 'preload',
  },
  {
    name: `${PREFIX}score`,
    kind: 'gauge',
    unit: '1',
    attributes: [],
    description: 'The performance score, 0..100 (only when a score source is attached).',
    face: 'preload',
  },
];

/** The Collector redis receiver's names and units for the fields of RedisHealthMetrics. */
export const REDIS_METRICS: readonly (MetricSpec & { field: string })[] = (
  [
    ['redis.uptime', 'counter', 's', 'Seconds since the Redis server started.'],
    ['redis.clients.connected', 'updowncounter', '{client}', 'Client connections (excluding replicas).'],
    ['redis.clients.blocked', 'updowncounter', '{client}', 'Clients pending on a blocking call.'],
    ['redis.memory.used', 'gauge', 'By', 'Bytes allocated by Redis.'],
    ['redis.memory.peak', 'gauge', 'By', 'Peak memory consumed by Redis.'],
    ['redis.memory.rss', 'gauge', 'By', 'Resident set size of the Redis process.'],
    ['redis.memory.lua', 'gauge', 'By', 'Memory used by the Lua engine.'],
    ['redis.memory.fragmentation_ratio', 'gauge', '1', 'used_memory_rss / used_memory.'],
    ['redis.maxmemory', 'gauge', 'By', 'maxmemory (0 = no limit).'],
    ['redis.keys.evicted', 'counter', '{key}', 'Keys evicted because of maxmemory.'],
    ['redis.keys.expired', 'counter', '{event}', 'Key expiration events.'],
    ['redis.keyspace.hits', 'counter', '{hit}', 'Successful key lookups.'],
    ['redis.keyspace.misses', 'counter', '{miss}', 'Failed key lookups.'],
    ['redis.commands.processed', 'counter', '{command}', 'Commands processed by the server.'],
    ['redis.connections.received', 'counter', '{connection}', 'Connections accepted by the server.'],
    ['redis.connections.rejected', 'counter', '{connection}', 'Connections rejected because of maxclients.'],
    ['redis.rdb.changes_since_last_save', 'updowncounter', '{change}', 'Changes since the last RDB save.'],
    ['redis.latest_fork', 'gauge', 'us', 'Duration of the latest fork.'],
    ['redis.slaves.connected', 'updowncounter', '{replica}', 'Connected replicas.'],
    ['redis.db.keys', 'updowncounter', '{key}', 'Keys over all databases.'],
    ['redis.keyspace.hit_ratio', 'gauge', '1', 'hits / (hits + misses) since start (no receiver name: same scheme).'],
    ['redis.slowlog.length', 'gauge', '{entry}', 'SLOWLOG LEN (no receiver name: same scheme).'],
  ] as const
).map(([name, kind, unit, description]) => ({
  name,
  field: name,
  kind,
  unit,
  attributes: [],
  description,
  face: 'sidecar' as const,
}));

export const SIDECAR_METRICS: readonly MetricSpec[] = [
  {
    name: `${PREFIX}sidecar.settings`,
    kind: 'gauge',
    unit: '{setting}',
    attributes: [`${PREFIX}store`, `${PREFIX}setting.state`],
    description: 'Managed settings at the last verify, by store and state (ok, drift, skip).',
    face: 'sidecar',
  },
  {
    name: `${PREFIX}sidecar.changes`,
    kind: 'counter',
    recorded: true,
    unit: '{setting}',
    attributes: [`${PREFIX}store`, `${PREFIX}result`],
    description: 'Settings written by apply or drift repair, by store and result (applied, failed).',
    face: 'sidecar',
  },
  {
    name: `${PREFIX}sidecar.drift.repairs`,
    kind: 'counter',
    recorded: true,
    unit: '{setting}',
    attributes: [`${PREFIX}store`],
    description: 'Settings found drifted and brought back by the daemon.',
    face: 'sidecar',
  },
  {
    name: `${PREFIX}sidecar.rollbacks`,
    kind: 'counter',
    recorded: true,
    unit: '{rollback}',
    attributes: [`${PREFIX}result`],
    description: 'Rollbacks from the journal, by result (ok, failed).',
    face: 'sidecar',
  },
  {
    name: `${PREFIX}logrotate.runs`,
    kind: 'counter',
    recorded: true,
    unit: '{run}',
    attributes: [`${PREFIX}result`],
    description: 'logrotate runs, by result (ok, failed).',
    face: 'sidecar',
  },
  ...REDIS_METRICS.map(({ field: _field, ...spec }) => spec),
];

export const ALL_METRICS: readonly MetricSpec[] = [...PRELOAD_METRICS, ...SIDECAR_METRICS];

export function metricSpec(name: string): MetricSpec {
  const spec = ALL_METRICS.find((m) => m.name === name);
  if (!spec) throw new Error(`titan-perf: no metric named ${name} in the catalogue`);
  return spec;
}
