/**
 * The originals of a shared Redis's CONFIG, kept in that Redis (one hash),
 * where every sidecar sharing it finds them. HSETNX makes the first original
 * win: a second pod that applies later, with the first pod's values already
 * in place, can never record those values as "the original".
 *
 * Durability: these entries live as long as the server's data. A Redis that
 * restarts without persistence has also dropped every runtime CONFIG SET
 * (it starts from redis.conf again), so the originals are moot, unless
 * `configRewrite` wrote the values into redis.conf: keep persistence on there.
 */
import type { Redis } from 'ioredis';
import type { Journal, JournalEntry } from '../engine/types';

export class RedisJournal implements Journal {
  readonly key: string;

  private readonly client: () => Promise<Redis>;
  /** Turns a timeout or an out-of-memory refusal into a coded error that says what to do. */
  private readonly describe: (err: unknown, what: string) => unknown;

  /** `client` may be a connection or a function resolving to one (a store that connects on first use). */
  constructor(
    client: Redis | (() => Promise<Redis>),
    keyPrefix: string,
    describe: (err: unknown, what: string) => unknown = (err) => err,
  ) {
    this.client = typeof client === 'function' ? client : () => Promise.resolve(client);
    this.key = `${keyPrefix}:config-originals`;
    this.describe = describe;
  }

  private async call<T>(what: string, fn: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.client());
    } catch (err) {
      throw this.describe(err, what);
    }
  }

  private static field(store: string, key: string): string {
    return `${store}|${key}`;
  }

  async recordOriginal(entry: JournalEntry): Promise<void> {
    await this.call(`the journal write (HSETNX ${this.key})`, (c) =>
      c.hsetnx(this.key, RedisJournal.field(entry.store, entry.key), JSON.stringify(entry)),
    );
  }

  /** Several originals in one MULTI: all recorded (each only if absent) or none. */
  async recordOriginals(entries: JournalEntry[]): Promise<void> {
    await this.call(`the journal write (MULTI/HSETNX ${this.key})`, async (c) => {
      const multi = c.multi();
      for (const e of entries) multi.hsetnx(this.key, RedisJournal.field(e.store, e.key), JSON.stringify(e));
      const replies = await multi.exec();
      const failed = replies?.find(([err]) => err);
      if (failed) throw failed[0];
    });
  }

  async originals(store?: string): Promise<JournalEntry[]> {
    const all = await this.call(`the journal read (HGETALL ${this.key})`, (c) => c.hgetall(this.key));
    const entries: JournalEntry[] = [];
    for (const text of Object.values(all)) {
      try {
        const e = JSON.parse(text) as JournalEntry;
        if (!store || e.store === store) entries.push(e);
      } catch {
        // Not ours (someone wrote the hash by hand): skip rather than restore garbage.
      }
    }
    return entries.sort((a, b) => a.at - b.at || a.key.localeCompare(b.key));
  }

  async original(store: string, key: string): Promise<JournalEntry | null> {
    const text = await this.call(`the journal read (HGET ${this.key})`, (c) =>
      c.hget(this.key, RedisJournal.field(store, key)),
    );
    return text ? (JSON.parse(text) as JournalEntry) : null;
  }

  async forget(store: string, key: string): Promise<void> {
    await this.call(`the journal update (HDEL ${this.key})`, (c) => c.hdel(this.key, RedisJournal.field(store, key)));
  }
}
