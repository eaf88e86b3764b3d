/**
 * The desired-state engine's contract. A store reads, writes and describes
 * settings of one kind (procfs sysctls, Redis CONFIG, a logrotate config);
 * the engine plans, journals, applies, reads back, verifies and rolls back,
 * the same way for every store. A new store is one file.
 */
import type { ConfigIssue } from '../errors';

/** How a desired value compares against the current one. */
export type Direction = 'exact' | 'raise-only' | 'lower-only';

export interface DesiredSetting {
  /** Store-unique key, e.g. `net.core.somaxconn`, `maxmemory`, `logrotate:/etc/...`. */
  key: string;
  /** The value to reach, in the store's canonical text form. */
  value: string;
  direction: Direction;
  /** A reason to refuse or skip instead of applying (privilege, scope, guard). */
  skip?: string;
  /** Things the user should know before the change (durability, rewrite). */
  warnings?: string[];
  /** A risky change applied only with `force` (the CLI's `--force`); otherwise skipped with this reason. */
  guarded?: string;
}

export type PlanAction = 'change' | 'ok' | 'skip';

export interface PlanEntry {
  store: string;
  key: string;
  current: string | null;
  desired: string;
  action: PlanAction;
  reason?: string;
  warnings?: string[];
}

export interface Store {
  /** `sysctl`, `redis`, `logrotate`. */
  readonly name: string;
  /** The settings this store would manage for the config it was built from. */
  desired(): Promise<DesiredSetting[]>;
  /** Current value in canonical text form; null when the setting does not exist. */
  read(key: string): Promise<string | null>;
  write(key: string, value: string): Promise<void>;
  /** Makes a setting absent again (rollback of a setting that did not exist, e.g. a generated config file). */
  remove?(key: string): Promise<void>;
  /** Whether `current` satisfies `desired` (store-specific normalisation, directions). */
  satisfies(current: string | null, desired: DesiredSetting): boolean;
  /**
   * What can be known to fail before the first write (a refusal of the tool the
   * store drives): each issue names the config field. The engine refuses the
   * whole plan or apply on any, so nothing is journalled or written.
   */
  check?(): Promise<ConfigIssue[]>;
  /** Release connections and handles. */
  close?(): Promise<void>;
}

/** One original value, recorded durably before the first write to its key. */
export interface JournalEntry {
  store: string;
  key: string;
  /** The value before titan-perf first changed it; null when the setting did not exist. */
  original: string | null;
  /** Epoch ms of the recording. */
  at: number;
  /** Who recorded it (pod/host name and pid), for shared stores. */
  owner: string;
}

/**
 * Where originals live. The default is a file journal in the state dir
 * (fsync'd before any write); a store shared by many sidecars (one Redis,
 * many pods) brings its own so that every sidecar finds the true originals.
 */
export interface Journal {
  /** Records the original unless one is already recorded for this key (the first original wins). */
  recordOriginal(entry: JournalEntry): Promise<void>;
  originals(store?: string): Promise<JournalEntry[]>;
  /** Several originals with one durable write (the file journal: one fsync per apply, not one per key). */
  recordOriginals?(entries: JournalEntry[]): Promise<void>;
  /** Drops an entry once its original has been restored and read back. */
  forget(store: string, key: string): Promise<void>;
  /** Several forgets with one durable write (a rollback of 20 keys: one fsync, not 20). */
  forgetMany?(entries: { store: string; key: string }[]): Promise<void>;
}

export interface StoreWithJournal extends Store {
  /** A journal of the store's own, used instead of the file journal for this store's keys. */
  journal(): Journal;
}
