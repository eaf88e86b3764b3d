/**
 * The desired-state engine, one for every store: plan (current vs desired),
 * journal the originals durably, write, read back, verify, roll back.
 *
 * Order of an apply: every original of the run is journalled (and fsync'd)
 * before the first write, so a crash at any point leaves a journal from which
 * `rollback` in a new process restores everything that may have changed.
 */
import { hostname } from 'node:os';
import { ConfigError, TitanPerfError, type ConfigIssue } from '../errors';
import { normaliseValue } from './direction';
import type { DesiredSetting, Journal, JournalEntry, PlanEntry, Store, StoreWithJournal } from './types';

export interface EngineOptions {
  stores: Store[];
  /** Where originals go for stores without a journal of their own (the file journal). */
  journal: Journal;
  /** Recorded with each original; defaults to `hostname/pid`. */
  owner?: string;
  /** Structured events (the daemon prints them as JSON lines). */
  log?: (event: EngineEvent) => void;
  /**
   * Test-only: stop forever after the originals are journalled and before the
   * first write, so a test can `kill -9` the process exactly there.
   */
  pauseAfterJournal?: boolean;
  /** Test-only: wait this many ms there instead, then go on (races with a second operation, slow first passes). */
  delayAfterJournalMs?: number;
  /**
   * Held by apply and rollback from their plan to their last write, so that
   * one operation at a time changes a state directory, across processes.
   */
  lock?: OperationLock;
}

export interface OperationLock {
  /** Waits (bounded) for the lock; rejects with a clear message when another operation keeps it, or once `signal` fires. */
  acquire(operation: string, signal?: AbortSignal): Promise<() => void>;
}

export interface EngineEvent {
  event: string;
  store?: string;
  key?: string;
  [field: string]: unknown;
}

export interface PlanOptions {
  /** Apply guarded changes instead of skipping them. */
  force?: boolean;
}

export interface ApplyOptions extends PlanOptions {
  /** On the first failure, restore what this run wrote (default true). */
  atomic?: boolean;
  /** Plan only; nothing is journalled or written. */
  dryRun?: boolean;
  /** Once aborted, no further setting is written; what this run wrote is undone (atomic mode). */
  signal?: AbortSignal;
}

export interface SettingFailure {
  store: string;
  key: string;
  code: string;
  message: string;
}

export interface ApplyResult {
  plan: PlanEntry[];
  /** Settings written and read back as desired. */
  changed: { store: string; key: string; from: string | null; to: string }[];
  failed: SettingFailure[];
  /** Settings this run wrote and then restored because of a failure (atomic mode). */
  rolledBack: { store: string; key: string }[];
  /** Stores that could not even plan (an unreachable Redis): nothing of theirs was checked or written. */
  unavailable: { store: string; reason: string }[];
  dryRun: boolean;
  ok: boolean;
}

export interface VerifyResult {
  plan: PlanEntry[];
  /** Settings not in the desired state (plan action `change`). */
  drift: PlanEntry[];
  /** Stores that could not be checked at all. */
  unavailable: { store: string; reason: string }[];
  inSync: boolean;
}

export interface RollbackResult {
  restored: { store: string; key: string; value: string | null }[];
  failed: SettingFailure[];
  ok: boolean;
}

interface PlannedChange {
  entry: PlanEntry;
  store: Store;
  setting: DesiredSetting;
}

export class Engine {
  readonly stores: readonly Store[];
  private readonly journal: Journal;
  private readonly owner: string;
  private readonly log: (event: EngineEvent) => void;
  private readonly pauseAfterJournal: boolean;
  private readonly delayAfterJournalMs: number;
  private readonly lock: OperationLock | undefined;

  constructor(opts: EngineOptions) {
    const names = new Set<string>();
    for (const s of opts.stores) {
      if (names.has(s.name))
        throw new TitanPerfError(
          'TITAN_PERF_DUPLICATE_STORE',
          `two stores are named '${s.name}'; store names key the journal and must be unique`,
        );
      names.add(s.name);
    }
    this.stores = opts.stores;
    this.journal = opts.journal;
    this.owner = opts.owner ?? `${hostname()}/${process.pid}`;
    this.log = opts.log ?? (() => {});
    this.pauseAfterJournal = opts.pauseAfterJournal ?? false;
    this.delayAfterJournalMs = opts.delayAfterJournalMs ?? 0;
    this.lock = opts.lock;
  }

  /** Runs `fn` holding the operation lock (when the engine has one). */
  private async exclusive<T>(operation: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!this.lock) return fn();
    const release = await this.lock.acquire(operation, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async plan(opts: PlanOptions = {}): Promise<PlanEntry[]> {
    await this.check();
    return (await this.planChanges(opts)).entries;
  }

  /** Throws a ConfigError naming every field a store already knows will be refused. */
  async check(): Promise<void> {
    const issues: ConfigIssue[] = [];
    for (const store of this.stores) if (store.check) issues.push(...(await store.check()));
    if (issues.length > 0) throw new ConfigError(issues);
  }

  async verify(): Promise<VerifyResult> {
    const { entries: plan } = await this.planChanges({});
    const drift = plan.filter((e) => e.action === 'change');
    for (const d of drift)
      this.log({ event: 'drift', store: d.store, key: d.key, current: d.current, desired: d.desired });
    return { plan, drift, unavailable: unavailableStores(plan), inSync: drift.length === 0 };
  }

  async apply(opts: ApplyOptions = {}): Promise<ApplyResult> {
    if (opts.dryRun) return this.applyLocked(opts);
    return this.exclusive('apply', () => this.applyLocked(opts), opts.signal);
  }

  private async applyLocked(opts: ApplyOptions): Promise<ApplyResult> {
    const atomic = opts.atomic ?? true;
    await this.check();
    const { entries, changes: planned } = await this.planChanges(opts);
    const result: ApplyResult = {
      plan: entries,
      changed: [],
      failed: [],
      rolledBack: [],
      unavailable: unavailableStores(entries),
      dryRun: !!opts.dryRun,
      ok: true,
    };
    if (opts.dryRun || planned.length === 0) return result;

    const { fresh: newlyJournalled, refused } = await this.journalOriginals(planned);
    let changes = planned;
    if (refused.length > 0) {
      // A journal that cannot record its originals (a full Redis) means its store's settings must not be written.
      result.ok = false;
      for (const r of refused) result.failed.push(r.failure);
      if (atomic) {
        // All or nothing, as for a failed write: nothing was written, the originals this run recorded are dropped.
        await this.forgetFresh(planned, newlyJournalled);
        return result;
      }
      const skip = new Set(refused.map((r) => r.store));
      changes = planned.filter((c) => !skip.has(c.store.name));
    }
    if (this.pauseAfterJournal) await pauseForever();
    if (this.delayAfterJournalMs > 0) await delay(this.delayAfterJournalMs, opts.signal);

    const written: PlannedChange[] = [];
    for (const change of changes) {
      const { store, entry } = change;
      if (opts.signal?.aborted) {
        result.failed.push(failure(store.name, entry.key, aborted(opts.signal)));
        this.log({ event: 'apply-interrupted', store: store.name, key: entry.key });
        break;
      }
      try {
        written.push(change);
        await store.write(entry.key, entry.desired);
        const readBack = await store.read(entry.key);
        if (!store.satisfies(readBack, change.setting)) {
          throw new TitanPerfError(
            'TITAN_PERF_READBACK_MISMATCH',
            `wrote ${JSON.stringify(entry.desired)} but read back ${JSON.stringify(readBack)}; the kernel or server adjusted or refused the value`,
          );
        }
        result.changed.push({ store: store.name, key: entry.key, from: entry.current, to: entry.desired });
        this.log({ event: 'applied', store: store.name, key: entry.key, from: entry.current, to: entry.desired });
      } catch (err) {
        result.failed.push(failure(store.name, entry.key, err));
        this.log({ event: 'apply-failed', store: store.name, key: entry.key, error: (err as Error).message });
        if (atomic) break;
      }
    }

    if (result.failed.length > 0) {
      result.ok = false;
      if (atomic) {
        for (const change of written.reverse()) {
          const { store, entry } = change;
          try {
            await this.restore(store, entry.key, entry.current);
            result.rolledBack.push({ store: store.name, key: entry.key });
            result.changed = result.changed.filter((c) => !(c.store === store.name && c.key === entry.key));
            // Only originals this run recorded are dropped: older ones are still the true originals.
            if (newlyJournalled.has(`${store.name}\0${entry.key}`))
              await this.journalFor(store).forget(store.name, entry.key);
          } catch (err) {
            result.failed.push(
              failure(
                store.name,
                entry.key,
                err,
                'rollback of this run failed; `rollback` restores it from the journal: ',
              ),
            );
          }
        }
      }
    }
    return result;
  }

  /** `signal` ends a wait for the state lock (a stop that must finish in time); a rollback under way runs to its end. */
  async rollback(opts: { signal?: AbortSignal } = {}): Promise<RollbackResult> {
    return this.exclusive('rollback', () => this.rollbackLocked(), opts.signal);
  }

  private async rollbackLocked(): Promise<RollbackResult> {
    const result: RollbackResult = { restored: [], failed: [], ok: true };
    const seen = new Set<Journal>();
    for (const store of this.stores) {
      const journal = this.journalFor(store);
      let entries: JournalEntry[];
      try {
        entries = await journal.originals(store.name);
      } catch (err) {
        // Its originals may be waiting there (an unreachable Redis): say so, and still restore the other stores.
        result.failed.push(failure(store.name, UNAVAILABLE_KEY, err, 'cannot read its journal: '));
        continue;
      }
      if (journal === this.journal) seen.add(journal);
      const done: { store: string; key: string }[] = [];
      for (const e of entries) {
        try {
          await this.restore(store, e.key, e.original);
          done.push({ store: store.name, key: e.key });
          result.restored.push({ store: store.name, key: e.key, value: e.original });
          this.log({ event: 'restored', store: store.name, key: e.key, value: e.original });
        } catch (err) {
          result.failed.push(failure(store.name, e.key, err));
          this.log({ event: 'restore-failed', store: store.name, key: e.key, error: (err as Error).message });
        }
      }
      // Forgotten only after the restores: a crash in between leaves entries whose restore simply repeats.
      if (journal.forgetMany) await journal.forgetMany(done);
      else for (const d of done) await journal.forget(d.store, d.key);
    }
    // Originals of stores this process was not given (Redis disabled now, say) must not vanish silently.
    if (seen.has(this.journal)) {
      const names = new Set(this.stores.map((s) => s.name));
      for (const e of await this.journal.originals()) {
        if (names.has(e.store)) continue;
        result.failed.push({
          store: e.store,
          key: e.key,
          code: STORE_UNAVAILABLE_CODE,
          message: `the journal holds an original for store '${e.store}', which is not configured in this run; enable it and run rollback again`,
        });
      }
    }
    result.ok = result.failed.length === 0;
    return result;
  }

  /** The originals still recorded, per store (what a rollback would restore). */
  async originals(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    const fileJournalStores = this.stores.filter((s) => this.journalFor(s) === this.journal);
    if (fileJournalStores.length > 0) out.push(...(await this.journal.originals()));
    for (const s of this.stores)
      if (this.journalFor(s) !== this.journal) out.push(...(await this.journalFor(s).originals(s.name)));
    return out;
  }

  private async restore(store: Store, key: string, value: string | null): Promise<void> {
    if (value === null) {
      if (!store.remove) return; // The setting did not exist before and cannot be made absent: nothing to restore.
      await store.remove(key);
      if ((await store.read(key)) !== null)
        throw new TitanPerfError('TITAN_PERF_READBACK_MISMATCH', `removed ${key} but it is still present`);
      return;
    }
    await store.write(key, value);
    const readBack = await store.read(key);
    if (readBack === null || normaliseValue(readBack) !== normaliseValue(value)) {
      throw new TitanPerfError(
        'TITAN_PERF_READBACK_MISMATCH',
        `restored ${JSON.stringify(value)} but read back ${JSON.stringify(readBack)}`,
      );
    }
  }

  private journalFor(store: Store): Journal {
    const own = (store as Partial<StoreWithJournal>).journal;
    return typeof own === 'function' ? own.call(store) : this.journal;
  }

  private async forgetFresh(changes: PlannedChange[], fresh: Set<string>): Promise<void> {
    for (const { store, entry } of changes) {
      if (!fresh.has(`${store.name}\0${entry.key}`)) continue;
      await this.journalFor(store)
        .forget(store.name, entry.key)
        .catch(() => {});
    }
  }

  /**
   * Records the originals, one journal at a time. Returns the `store\0key` ids
   * whose original this run recorded for the first time, and the stores whose
   * journal refused (their settings must not be written).
   */
  private async journalOriginals(
    changes: PlannedChange[],
  ): Promise<{ fresh: Set<string>; refused: { store: string; failure: SettingFailure }[] }> {
    const byJournal = new Map<Journal, JournalEntry[]>();
    const at = Date.now();
    for (const { store, entry } of changes) {
      const j = this.journalFor(store);
      const list = byJournal.get(j) ?? [];
      list.push({ store: store.name, key: entry.key, original: entry.current, at, owner: this.owner });
      byJournal.set(j, list);
    }
    const fresh = new Set<string>();
    const refused: { store: string; failure: SettingFailure }[] = [];
    for (const [journal, entries] of byJournal) {
      try {
        const before = new Set((await journal.originals()).map((e) => `${e.store}\0${e.key}`));
        if (journal.recordOriginals) await journal.recordOriginals(entries);
        else for (const e of entries) await journal.recordOriginal(e);
        for (const e of entries) if (!before.has(`${e.store}\0${e.key}`)) fresh.add(`${e.store}\0${e.key}`);
        this.log({ event: 'journalled', keys: entries.map((e) => `${e.store}:${e.key}`) });
      } catch (err) {
        // The file journal failing is not a store's problem: nothing can be written safely at all.
        if (journal === this.journal) throw err;
        for (const name of new Set(entries.map((e) => e.store))) {
          const f = failure(
            name,
            UNAVAILABLE_KEY,
            err,
            'cannot journal the originals, so none of its settings was written: ',
          );
          refused.push({ store: name, failure: f });
          this.log({ event: 'journal-failed', store: name, error: f.message, code: f.code });
        }
      }
    }
    return { fresh, refused };
  }

  private async planChanges(opts: PlanOptions): Promise<{ entries: PlanEntry[]; changes: PlannedChange[] }> {
    const entries: PlanEntry[] = [];
    const changes: PlannedChange[] = [];
    for (const store of this.stores) {
      let desired: DesiredSetting[];
      try {
        desired = await store.desired();
      } catch (err) {
        // One store down (an unreachable Redis) must not stop the others.
        entries.push({
          store: store.name,
          key: UNAVAILABLE_KEY,
          current: null,
          desired: '',
          action: 'skip',
          reason: (err as Error).message,
        });
        continue;
      }
      for (const setting of desired) {
        let current: string | null = null;
        let readError: string | undefined;
        try {
          current = await store.read(setting.key);
        } catch (err) {
          readError = (err as Error).message;
        }
        const entry: PlanEntry = { store: store.name, key: setting.key, current, desired: setting.value, action: 'ok' };
        if (setting.warnings?.length) entry.warnings = setting.warnings;
        if (readError !== undefined) {
          entry.action = 'skip';
          entry.reason = readError;
        } else if (store.satisfies(current, setting)) {
          // Already right: a reason not to write (scope, privilege) does not matter then.
          entry.action = 'ok';
        } else if (setting.skip) {
          entry.action = 'skip';
          entry.reason = setting.skip;
        } else if (setting.guarded && !opts.force) {
          entry.action = 'skip';
          entry.reason = `${setting.guarded} (apply with --force to change it anyway)`;
        } else {
          entry.action = 'change';
          changes.push({ entry, store, setting });
        }
        entries.push(entry);
      }
    }
    return { entries, changes };
  }
}

/** A store whose desired() threw appears in the plan as one `*` entry. */
export const UNAVAILABLE_KEY = '*';
/** The code of a store that could not be read or built, wherever it is reported. */
export const STORE_UNAVAILABLE_CODE = 'TITAN_PERF_STORE_UNAVAILABLE';

export function unavailableStores(plan: PlanEntry[]): { store: string; reason: string }[] {
  return plan
    .filter((e) => e.key === UNAVAILABLE_KEY)
    .map((e) => ({ store: e.store, reason: e.reason ?? 'unavailable' }));
}

function failure(store: string, key: string, err: unknown, prefix = ''): SettingFailure {
  const code =
    err instanceof TitanPerfError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'TITAN_PERF_WRITE_FAILED');
  return { store, key, code, message: prefix + (err as Error).message };
}

function aborted(signal: AbortSignal): TitanPerfError {
  const why = signal.reason instanceof Error ? signal.reason.message : 'the operation was interrupted';
  return new TitanPerfError('TITAN_PERF_INTERRUPTED', `not written: ${why}`);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  process.stderr.write(`titan-perf: test delay after journal, ${ms} ms (TITAN_PERF_TEST_DELAY_AFTER_JOURNAL_MS)\n`);
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

function pauseForever(): Promise<never> {
  process.stderr.write('titan-perf: test pause after journal (TITAN_PERF_TEST_PAUSE_AFTER_JOURNAL)\n');
  // A ref'd timer: without it an idle event loop would let the process exit here.
  setInterval(() => {}, 1 << 30);
  return new Promise<never>(() => {});
}
