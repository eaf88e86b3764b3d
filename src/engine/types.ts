/**
 * The desired-state engine's contract. A store reads, writes and describes
 * settings of one kind (procfs sysctls, Redis CONFIG, a logrotate config);
 * the engine plans, journals, applies, reads back, verifies and rolls back,
 * the same way for every store. A new store is one file.
 */

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
  /** Whether `current` satisfies `desired` (store-specific normalisation, directions). */
  satisfies(current: string | null, desired: DesiredSetting): boolean;
  /** Release connections and handles. */
  close?(): Promise<void>;
}
