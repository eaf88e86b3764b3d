/**
 * Builds the engine over the stores a config asks for: the sidecar's CLI and
 * daemon, the library's SystemOptimizer and the benchmarks all go through
 * here, so there is one way of wiring stores, never a second implementation.
 */
import type { TitanPerfConfig } from '../config/types';
import { LogrotateStore } from '../system/logrotate-store';
import { SysctlStore } from '../system/sysctl-store';
import { Engine, type EngineEvent } from './engine';
import { FileJournal } from './file-journal';
import { StateLock } from './state-lock';
import type { Store } from './types';

export interface SidecarEngineOptions {
  /** A validated config (resolveConfig with strict: true). */
  config: TitanPerfConfig;
  /** Journal and generated files; defaults to config.dataDir. */
  stateDir?: string;
  /** procfs root; defaults to /proc. */
  procRoot?: string;
  /** Build every store even if disabled in the config: a rollback must reach whatever was journalled. */
  allStores?: boolean;
  log?: (event: EngineEvent) => void;
  /** Test-only (TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL): see EngineOptions. */
  pauseAfterJournal?: boolean;
  /** Test-only (TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS): see EngineOptions. */
  delayAfterJournalMs?: number;
  /** How long a second operation on the same state dir waits for the first (default STATE_LOCK_WAIT_MS). */
  lockWaitMs?: number;
  /** Notices from the Redis store (lease lost, rewrite skipped). */
  warn?: (message: string) => void;
}

export interface SidecarEngine {
  engine: Engine;
  journal: FileJournal;
  sysctl?: SysctlStore;
  logrotate?: LogrotateStore;
  /** The Redis store (typed loosely so loading this module never loads ioredis). */
  redis?: Store & { health?(): Promise<unknown>; advisoryReason?(): Promise<string | null> };
  /** Why Redis is not managed in this run, when it was asked for. */
  redisUnavailable?: string;
  close(): Promise<void>;
}

export function createSidecarEngine(opts: SidecarEngineOptions): SidecarEngine {
  const { config } = opts;
  const stateDir = opts.stateDir ?? config.dataDir;
  const journal = new FileJournal(stateDir);
  const stores: Store[] = [];
  const out: Omit<SidecarEngine, 'engine' | 'close'> = { journal };

  if (config.system.enabled || opts.allStores) {
    out.sysctl = new SysctlStore({ system: config.system, procRoot: opts.procRoot });
    out.logrotate = new LogrotateStore({ logRotation: config.system.logRotation, stateDir });
    stores.push(out.sysctl, out.logrotate);
  }
  if (config.redis.enabled) {
    try {
      const { RedisStore } = require('../redis/store') as typeof import('../redis/store');
      out.redis = new RedisStore(config.redis, { warn: opts.warn });
      stores.push(out.redis);
    } catch (err) {
      out.redisUnavailable = `Redis store not available: ${(err as Error).message}`;
    }
  }
  const engine = new Engine({
    stores,
    journal,
    log: opts.log,
    pauseAfterJournal: opts.pauseAfterJournal,
    delayAfterJournalMs: opts.delayAfterJournalMs,
    lock: new StateLock(stateDir, opts.lockWaitMs),
  });
  return {
    ...out,
    engine,
    async close() {
      for (const s of stores) await s.close?.();
    },
  };
}
