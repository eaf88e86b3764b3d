/**
 * The Redis store of the desired-state engine: CONFIG GET / CONFIG SET of the
 * catalogued parameters (parameters.ts), with the guards that keep data safe
 * (maxmemory never below the data set, warnings before durability drops),
 * single ownership through a lease kept in the same Redis, and a journal of
 * true originals kept there too, so that every sidecar sharing this Redis
 * restores the same values.
 *
 * Rollback semantics with several sidecars: only the lease owner writes, and
 * that includes rollback; what it restores is the journalled original, which
 * the first sidecar to change a key recorded before its first write. A pod
 * that applied later, or rolls back later, can therefore never put another
 * pod's values back "as the original".
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { RedisConfig } from '../config/types';
import type { DesiredSetting, StoreWithJournal } from '../engine/types';
import { meetsDirection } from '../engine/direction';
import { connectRedis, redisLabel } from './connection';
import {
  describeCommandError,
  errorSummary,
  isConfigBlocked,
  isTimeout,
  REDIS_ERROR_CODES,
  RedisError,
} from './redis-errors';
import { parseInfo, redisHealth, type RedisHealth } from './health';
import { RedisJournal } from './journal';
import { RedisLease } from './lease';
import {
  APPENDFSYNC_DURABILITY,
  APPENDFSYNC_LOSS,
  canonicalValue,
  REDIS_PARAMETERS,
  redisParameter,
  type RedisParameter,
} from './parameters';
import { redisRecommendations, type RedisRecommendation } from './recommendations';

export interface RedisStoreOptions {
  /** Where `redis.passwordEnv` is looked up; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Who this sidecar is, in the lease and the journal; defaults to `$HOSTNAME/pid`. */
  owner?: string;
  /** One-line notices that need no answer (lease lost, rewrite not possible); defaults to stderr. */
  warn?: (message: string) => void;
  /** An already connected client to use instead of connecting (the caller keeps ownership). */
  client?: Redis;
}

interface ServerFacts {
  /** Why nothing is written, or null when CONFIG may be used. */
  advisory: string | null;
  version: string;
  /** redis.conf path, empty when the server runs without one. */
  configFile: string;
}

export const REDIS_STORE_NAME = 'redis';

export class RedisStore implements StoreWithJournal {
  readonly name = REDIS_STORE_NAME;
  readonly owner: string;
  private clientPromise: Promise<Redis> | undefined;
  private factsPromise: Promise<ServerFacts> | undefined;
  private leaseObj: RedisLease | undefined;
  private journalObj: RedisJournal | undefined;
  private readonly warn: (message: string) => void;
  private warnedNoConfigFile = false;

  constructor(
    readonly config: RedisConfig,
    private readonly opts: RedisStoreOptions = {},
  ) {
    this.owner = opts.owner ?? `${process.env.HOSTNAME || hostname()}/${process.pid}`;
    this.warn = opts.warn ?? ((m) => process.stderr.write(`titan-perf redis: ${m}\n`));
  }

  /** The connection, made on first use; a failed attempt is not cached, so a later call (the daemon's next tick) tries again. */
  client(): Promise<Redis> {
    if (this.opts.client) return Promise.resolve(this.opts.client);
    if (!this.clientPromise) {
      const pending = connectRedis(this.config, { env: this.opts.env, connectionName: 'titan-perf-sidecar' });
      this.clientPromise = pending;
      pending.then(
        (client) =>
          // Reconnects spent (a Redis restart that outlasted them): the next call starts afresh instead of failing forever.
          client.once('end', () => {
            if (this.clientPromise === pending) this.forgetConnection();
          }),
        () => {
          if (this.clientPromise === pending) this.clientPromise = undefined;
        },
      );
    }
    return this.clientPromise;
  }

  /** Drops everything bound to a dead connection; the lease, if it was ours, expires on its own. */
  private forgetConnection(): void {
    this.clientPromise = undefined;
    this.factsPromise = undefined;
    this.leaseObj?.abandon();
    this.leaseObj = undefined;
  }

  private async lease(): Promise<RedisLease> {
    if (!this.leaseObj) {
      const client = await this.client();
      this.leaseObj ??= new RedisLease(
        client,
        this.config.keyPrefix,
        this.owner,
        this.config.leaseTtl,
        (reason) =>
          this.warn(
            `lost the configuration lease (${reason}); the next CONFIG write takes it again only if no other sidecar holds it`,
          ),
        [this.journal().key],
      );
    }
    return this.leaseObj;
  }

  /** Takes the configuration lease (throws TITAN_PERF_REDIS_LEASE_HELD naming the holder when another sidecar has it). */
  async acquireLease(): Promise<void> {
    await (await this.lease()).acquire();
  }

  async leaseHolder() {
    return (await this.lease()).holder();
  }

  async ownsLease(): Promise<boolean> {
    return this.leaseObj?.isHeld ?? false;
  }

  journal(): RedisJournal {
    // The engine asks for the journal synchronously; the connection is awaited per call.
    this.journalObj ??= new RedisJournal(
      () => this.client(),
      this.config.keyPrefix,
      (err, what) => this.describe(err, what),
    );
    return this.journalObj;
  }

  /** A timeout or an out-of-memory refusal as a coded error naming the server and what to do. */
  private describe(err: unknown, what: string): unknown {
    return describeCommandError(err, redisLabel(this.config), this.config.commandTimeout, what);
  }

  /** Runs `fn`, reporting a frozen or full server clearly instead of as ioredis's bare message. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.describe(err, what);
    }
  }

  /** Whether this server is managed or only advised, and whether it has a config file. */
  private facts(): Promise<ServerFacts> {
    if (!this.factsPromise) {
      this.factsPromise = this.probe();
      this.factsPromise.catch(() => {
        this.factsPromise = undefined;
      });
    }
    return this.factsPromise;
  }

  private async probe(): Promise<ServerFacts> {
    const client = await this.client();
    const info = parseInfo(await client.info('server'));
    const configFile = info.config_file ?? '';
    const version = info.redis_version ?? '';
    if (this.config.mode === 'advisory') return { advisory: "redis.mode is 'advisory'", configFile, version };
    try {
      await client.config('GET', 'maxmemory');
    } catch (err) {
      if (!isConfigBlocked(err)) throw err;
      return {
        advisory: `this server refuses CONFIG (${errorSummary(err)}), as managed services (ElastiCache, Memorystore, Azure Cache) and renamed-command setups do; set these through the provider's parameter group or redis.conf`,
        configFile,
        version,
      };
    }
    return { advisory: null, configFile, version };
  }

  /** Why this store only advises (health and recommendations, no writes), or null when it manages CONFIG. */
  async advisoryReason(): Promise<string | null> {
    return (await this.facts()).advisory;
  }

  private param(key: string): RedisParameter {
    const p = redisParameter(key);
    if (!p)
      throw new RedisError(
        REDIS_ERROR_CODES.unmanaged,
        `${key} is not a Redis parameter titan-perf manages; managed: ${REDIS_PARAMETERS.map((x) => x.key).join(', ')}`,
      );
    return p;
  }

  private desiredValue(p: RedisParameter): string {
    return canonicalValue(p, this.config[p.field]);
  }

  async desired(): Promise<DesiredSetting[]> {
    return this.guard('INFO / CONFIG GET', () => this.desiredUnguarded());
  }

  private async desiredUnguarded(): Promise<DesiredSetting[]> {
    const facts = await this.facts();
    const client = await this.client();
    const settings: DesiredSetting[] = [];
    if (facts.advisory) {
      for (const p of REDIS_PARAMETERS) {
        const value = this.desiredValue(p);
        settings.push({
          key: p.key,
          value,
          direction: 'exact',
          skip: `advisory mode, nothing written: ${facts.advisory}. Recommended: ${p.key} ${value}`,
        });
      }
      return settings;
    }
    const current = await this.readAll();
    const usedMemory = Number(parseInfo(await client.info('memory')).used_memory ?? 0);
    const rewriteNote =
      this.config.configRewrite && !facts.configFile
        ? 'redis.configRewrite is on, but this server runs without a config file, so CONFIG REWRITE is not possible: the value holds until the next restart'
        : undefined;
    for (const p of REDIS_PARAMETERS) {
      const value = this.desiredValue(p);
      const s: DesiredSetting = { key: p.key, value, direction: 'exact' };
      const now = current.get(p.key) ?? null;
      if (!current.has(p.key)) {
        s.skip = `this Redis (${facts.version || 'unknown version'}) has no ${p.key} parameter`;
      } else if (p.immutable) {
        if (now !== value)
          s.skip = `${p.key} cannot change at runtime (current ${now ?? 'unknown'}, desired ${value}): needs a restart with '${p.key} ${value}' in redis.conf`;
      } else if (p.key === 'maxmemory') {
        // Guarded, not skipped: the engine applies it with --force (which also sets redis.forceMaxMemory).
        const refusal = this.maxmemoryRefusal(Number(value), usedMemory);
        if (refusal) s.guarded = refusal;
      }
      const warnings = this.durabilityWarnings(p.key, now, value);
      if (rewriteNote && !s.skip && now !== value) warnings.push(rewriteNote);
      if (warnings.length) s.warnings = warnings;
      settings.push(s);
    }
    return settings;
  }

  /** Null when `bytes` is safe; otherwise why it is refused. 0 means no limit and is always safe. */
  private maxmemoryRefusal(bytes: number, usedMemory: number): string | null {
    if (bytes === 0 || this.config.forceMaxMemory) return null;
    const needed = Math.ceil(usedMemory * (1 + this.config.maxMemoryHeadroom));
    if (bytes >= needed) return null;
    return (
      `maxmemory ${bytes} is below the used memory (${usedMemory} bytes) plus ${Math.round(this.config.maxMemoryHeadroom * 100)}% headroom (${needed} bytes): ` +
      `Redis would start evicting (or refusing writes) at once; raise redis.maxMemory to at least ${needed}`
    );
  }

  private durabilityWarnings(key: string, current: string | null, desired: string): string[] {
    const out: string[] = [];
    if (current === null || current === desired) return out;
    if (key === 'appendonly' && desired === 'yes')
      out.push(
        'switching appendonly on starts an AOF rewrite at once: a fork, a memory spike (copy-on-write) and heavy disk writes while it runs',
      );
    if (key === 'appendonly' && desired === 'no')
      out.push('switching appendonly off: a crash loses every write since the last RDB snapshot');
    if (
      key === 'appendfsync' &&
      (APPENDFSYNC_DURABILITY[desired] ?? 0) < (APPENDFSYNC_DURABILITY[current] ?? 0) &&
      this.config.appendOnly
    )
      out.push(
        `appendfsync ${current} -> ${desired} is less durable: a crash can lose ${APPENDFSYNC_LOSS[desired]} instead of ${APPENDFSYNC_LOSS[current]}`,
      );
    return out;
  }

  /** Every managed parameter's current value, in one CONFIG GET round trip. */
  private async readAll(): Promise<Map<string, string>> {
    const client = await this.client();
    const keys = REDIS_PARAMETERS.map((p) => p.key);
    let reply: string[];
    try {
      reply = (await client.config('GET', ...keys)) as string[];
    } catch {
      // Redis before 7.0 takes one pattern per CONFIG GET.
      reply = (await Promise.all(keys.map((k) => client.config('GET', k) as Promise<string[]>))).flat();
    }
    const out = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const p = redisParameter(reply[i]);
      if (p) out.set(p.key, canonicalValue(p, reply[i + 1]));
    }
    return out;
  }

  async read(key: string): Promise<string | null> {
    return this.guard(`CONFIG GET ${key}`, () => this.readUnguarded(key));
  }

  private async readUnguarded(key: string): Promise<string | null> {
    const p = this.param(key);
    const facts = await this.facts();
    const client = await this.client();
    if (facts.advisory) return this.readFromInfo(p);
    const reply = (await client.config('GET', p.key)) as string[];
    if (reply.length < 2) return null;
    return canonicalValue(p, reply[1]);
  }

  /** What INFO reveals when CONFIG is refused: enough to advise on the most important settings. */
  private async readFromInfo(p: RedisParameter): Promise<string | null> {
    const info = parseInfo(await (await this.client()).info().catch(() => ''));
    const raw: Record<string, string | undefined> = {
      maxmemory: info.maxmemory,
      'maxmemory-policy': info.maxmemory_policy,
      appendonly: info.aof_enabled === undefined ? undefined : info.aof_enabled === '1' ? 'yes' : 'no',
      hz: info.configured_hz ?? info.hz,
    };
    const v = raw[p.key];
    return v === undefined ? null : canonicalValue(p, v);
  }

  async write(key: string, value: string): Promise<void> {
    return this.guard(`CONFIG SET ${key}`, () => this.writeUnguarded(key, value));
  }

  private async writeUnguarded(key: string, value: string): Promise<void> {
    const p = this.param(key);
    if (p.immutable)
      throw new RedisError(
        REDIS_ERROR_CODES.immutable,
        `${p.key} cannot change at runtime; set '${p.key} ${value}' in redis.conf and restart Redis`,
      );
    const wanted = canonicalValue(p, value);
    const facts = await this.facts();
    if (facts.advisory)
      throw new RedisError(REDIS_ERROR_CODES.configBlocked, `not writing ${p.key}: advisory mode (${facts.advisory})`);
    const client = await this.client();
    if (p.key === 'maxmemory') {
      const used = Number(parseInfo(await client.info('memory')).used_memory ?? 0);
      const refusal = this.maxmemoryRefusal(Number(wanted), used);
      if (refusal)
        throw new RedisError(
          REDIS_ERROR_CODES.maxmemoryGuard,
          `${refusal}, or pass --force (redis.forceMaxMemory) to accept evictions`,
        );
    }
    await this.acquireLease();
    // Record before the first write even when the caller did not: the store alone guarantees a true original exists.
    const journal = this.journal();
    if (!(await journal.original(this.name, p.key))) {
      await journal.recordOriginal({
        store: this.name,
        key: p.key,
        original: await this.read(p.key),
        at: Date.now(),
        owner: this.owner,
      });
    }
    try {
      await client.config('SET', p.key, wanted);
    } catch (err) {
      if (isTimeout(err)) throw err;
      if (isConfigBlocked(err))
        throw new RedisError(
          REDIS_ERROR_CODES.configBlocked,
          `Redis refused CONFIG SET ${p.key} (${errorSummary(err)}); the user may read but not change the configuration: grant +config|set or set redis.mode to 'advisory'`,
          { cause: err },
        );
      throw new RedisError(REDIS_ERROR_CODES.command, `CONFIG SET ${p.key} ${wanted} failed: ${errorSummary(err)}`, {
        cause: err,
      });
    }
    const back = await this.read(p.key);
    if (back !== wanted)
      throw new RedisError(
        REDIS_ERROR_CODES.readBack,
        `CONFIG SET ${p.key} ${wanted} was accepted but reads back as ${back ?? 'nothing'}`,
      );
    await this.persist(facts);
  }

  /** CONFIG REWRITE when configured, so the values survive a restart. */
  private async persist(facts: ServerFacts): Promise<void> {
    if (!this.config.configRewrite) return;
    if (!facts.configFile) {
      if (!this.warnedNoConfigFile)
        this.warn(
          'redis.configRewrite is on, but the server runs without a config file: CONFIG REWRITE skipped, applied values hold until the next restart',
        );
      this.warnedNoConfigFile = true;
      return;
    }
    try {
      await (await this.client()).config('REWRITE');
    } catch (err) {
      throw new RedisError(
        REDIS_ERROR_CODES.rewrite,
        `CONFIG REWRITE of ${facts.configFile} failed (${errorSummary(err)}); the running values are set, but a restart would lose them: make the file and its directory writable by Redis or turn redis.configRewrite off`,
        { cause: err },
      );
    }
  }

  satisfies(current: string | null, desired: DesiredSetting): boolean {
    if (current === null) return false;
    const p = redisParameter(desired.key);
    let a = current;
    let b = desired.value;
    try {
      if (p) [a, b] = [canonicalValue(p, current), canonicalValue(p, desired.value)];
    } catch {
      return false;
    }
    if (desired.direction === 'exact' || !p || (p.kind !== 'int' && p.kind !== 'bytes')) return a === b;
    // maxmemory 0 means unlimited, the highest possible value.
    if (p.kind === 'bytes' && (a === '0' || b === '0')) {
      if (a === b) return true;
      return desired.direction === 'raise-only' ? a === '0' : b === '0';
    }
    return meetsDirection(a, b, desired.direction);
  }

  /**
   * Restores every journalled original of this store and forgets it once read
   * back (the engine does the same through journal(); this is for callers
   * without the engine). Only the lease owner may do it.
   */
  async restoreOriginals(): Promise<{ key: string; restored: string | null }[]> {
    await this.acquireLease();
    const done: { key: string; restored: string | null }[] = [];
    const journal = this.journal();
    for (const entry of await journal.originals(this.name)) {
      if (entry.original !== null) await this.write(entry.key, entry.original);
      await journal.forget(this.name, entry.key);
      done.push({ key: entry.key, restored: entry.original });
    }
    return done;
  }

  async health(): Promise<RedisHealth> {
    return this.guard('INFO', async () => redisHealth(await this.client()));
  }

  /** What to change and why, from the desired values and the server's health; the whole output of advisory mode. */
  async recommendations(): Promise<RedisRecommendation[]> {
    const current = new Map<string, string | null>();
    for (const p of REDIS_PARAMETERS) current.set(p.key, await this.read(p.key).catch(() => null));
    const desired = new Map(REDIS_PARAMETERS.map((p) => [p.key, this.desiredValue(p)]));
    return redisRecommendations(current, desired, await this.health());
  }

  /** Releases the lease (if held) and the connection; never throws. */
  async close(): Promise<void> {
    try {
      await this.leaseObj?.release();
    } catch {
      // The lease expires on its own; a failed release only delays the next owner by its TTL.
    }
    this.leaseObj = undefined;
    const pending = this.clientPromise;
    this.clientPromise = undefined;
    this.factsPromise = undefined;
    if (!pending || this.opts.client) return;
    try {
      const client = await pending;
      await client.quit().catch(() => client.disconnect());
    } catch {
      // Never connected: nothing to close.
    }
  }
}
