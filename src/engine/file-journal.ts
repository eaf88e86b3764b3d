/**
 * The default journal: one JSON file in the state dir. Every change is a new
 * file written to a temp name, fsync'd, renamed over the old one, and the
 * directory fsync'd, so after a crash (kill -9, power loss) the journal is
 * either the old or the new version, never a torn one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TitanPerfError } from '../errors';
import { checkTrustedDir, createExclusive } from '../trusted-files';
import { parseJournal } from './journal-format';
import { breakStaleLock, lockIsStale, ownRecord, readLockRecord, tryCreateLock } from './state-lock';
import type { Journal, JournalEntry } from './types';

interface JournalFile {
  version: 1;
  entries: JournalEntry[];
}

export const JOURNAL_FILE = 'journal.json';
const LOCK_WAIT_MS = 10_000;

export class FileJournal implements Journal {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, JOURNAL_FILE);
  }

  async recordOriginal(entry: JournalEntry): Promise<void> {
    await this.recordOriginals([entry]);
  }

  async recordOriginals(entries: JournalEntry[]): Promise<void> {
    this.locked(() => this.addEntries(entries));
  }

  private addEntries(entries: JournalEntry[]): void {
    const current = this.load();
    const known = new Set(current.map((e) => `${e.store}\0${e.key}`));
    let added = false;
    for (const entry of entries) {
      const id = `${entry.store}\0${entry.key}`;
      // The first original wins: a second apply must not record titan-perf's own value as the original.
      if (known.has(id)) continue;
      known.add(id);
      current.push({ ...entry });
      added = true;
    }
    if (added) this.save(current);
  }

  async originals(store?: string): Promise<JournalEntry[]> {
    const all = this.load();
    return store === undefined ? all : all.filter((e) => e.store === store);
  }

  async forget(store: string, key: string): Promise<void> {
    await this.forgetMany([{ store, key }]);
  }

  async forgetMany(entries: { store: string; key: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const drop = new Set(entries.map((e) => `${e.store}\0${e.key}`));
    this.locked(() => {
      const current = this.load();
      const rest = current.filter((e) => !drop.has(`${e.store}\0${e.key}`));
      if (rest.length !== current.length) this.save(rest);
    });
  }

  /**
   * Read-modify-write under an exclusive lock file, so a daemon and a manual
   * `apply`/`rollback` on the same state dir never lose each other's
   * originals. A lock left by a dead process (kill -9), or naming a pid that
   * now belongs to another process, is taken over.
   */
  private locked(fn: () => void): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    checkTrustedDir(this.dir, 'the state directory', 'TITAN_PERF_STATE_DIR_UNSAFE');
    const lock = `${this.path}.lock`;
    const until = Date.now() + LOCK_WAIT_MS;
    const record = ownRecord('journal write');
    for (;;) {
      if (tryCreateLock(lock, record)) break;
      const holder = readLockRecord(lock);
      if (lockIsStale(lock)) {
        breakStaleLock(lock, holder);
        continue;
      }
      if (Date.now() > until) {
        throw new TitanPerfError(
          'TITAN_PERF_JOURNAL_LOCKED',
          `the journal ${this.path} stayed locked by another titan-perf process for ${LOCK_WAIT_MS} ms (${lock}); retry when it is done`,
        );
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    try {
      fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private load(): JournalEntry[] {
    return parseJournal(this.dir, this.path);
  }

  private save(entries: JournalEntry[]): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    checkTrustedDir(this.dir, 'the state directory', 'TITAN_PERF_STATE_DIR_UNSAFE');
    // A fresh random name opened O_EXCL|O_NOFOLLOW: a link planted under a guessable name is never followed.
    const tmp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = createExclusive(tmp, 0o600);
    try {
      try {
        writeSync(fd, JSON.stringify({ version: 1, entries } satisfies JournalFile, null, 2) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    // The rename itself is only durable once the directory entry is on disk.
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
