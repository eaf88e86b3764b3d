/**
 * One operation at a time per state directory, across processes: apply,
 * rollback and each daemon pass hold `<state-dir>/operation.lock` from their
 * plan to their last write. A second operation waits (bounded) and then
 * fails naming the holder; waiting is the better default because passes are
 * short, and an operator's `rollback` during a daemon pass should simply run
 * after it.
 *
 * Node has no flock(2), so the lock is a file created with O_EXCL holding who
 * took it: pid, the process's start time (from /proc/<pid>/stat) and host.
 * A lock whose holder is gone (kill -9) or whose pid now belongs to another
 * process (pid reuse: the start time differs) is stale and taken over, so a
 * crash never blocks the directory forever. Inside one process the lock is a
 * queue, so the daemon's shutdown rollback waits for its own pass.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TitanPerfError } from '../errors';
import type { OperationLock } from './engine';

export const STATE_LOCK_FILE = 'operation.lock';
/** How long a second operation waits for the first before it gives up. */
export const STATE_LOCK_WAIT_MS = 30_000;
/** A lock file that stays empty or unparseable this long was left by a process that died while writing it. */
const UNREADABLE_GRACE_MS = 5000;
const MAX_LOCK_BYTES = 4096;

export interface LockRecord {
  pid: number;
  /** Clock ticks since boot when the holder started (field 22 of /proc/<pid>/stat); null without procfs. */
  start: string | null;
  host: string;
  operation: string;
  at: number;
  token: string;
}

/** The start time of a process, which with the pid names it uniquely (a reused pid has another start time). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export function ownRecord(operation: string): LockRecord {
  return {
    pid: process.pid,
    start: processStartTime(process.pid),
    host: hostname(),
    operation,
    at: Date.now(),
    token: randomBytes(8).toString('hex'),
  };
}

/** Reads a lock file; null when it is absent, empty or not a lock record. */
export function readLockRecord(path: string): LockRecord | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').slice(0, MAX_LOCK_BYTES);
  } catch {
    return null;
  }
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (!Number.isInteger(r.pid) || (r.pid as number) <= 0 || typeof r.host !== 'string') return null;
    return {
      pid: r.pid as number,
      start: typeof r.start === 'string' ? r.start : null,
      host: r.host,
      operation: String(r.operation ?? '?'),
      at: Number(r.at) || 0,
      token: String(r.token ?? ''),
    };
  } catch {
    // The journal's own lock once held only a pid: read that form too.
    const pid = Number.parseInt(text, 10);
    return Number.isInteger(pid) && pid > 0
      ? { pid, start: null, host: hostname(), operation: '?', at: 0, token: '' }
      : null;
  }
}

/**
 * Whether the process named by a lock record still runs. A record from
 * another host (a volume shared by two pods) cannot be checked: it counts as
 * held, and the wait ends with a message that says so.
 */
export function holderAlive(r: LockRecord): boolean {
  if (r.host !== hostname()) return true;
  try {
    process.kill(r.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStartTime(r.pid);
  // The same pid with another start time is another process (pid reuse after a crash).
  if (r.start !== null && start !== null && start !== r.start) return false;
  return true;
}

/** Whether a lock file at `path` is stale: its holder is gone, or it stayed unreadable too long. */
export function lockIsStale(path: string): boolean {
  const r = readLockRecord(path);
  if (r) return !holderAlive(r);
  try {
    return Date.now() - statSync(path).mtimeMs > UNREADABLE_GRACE_MS;
  } catch {
    return false; // Gone already: not stale, just try again.
  }
}

/** Tries once to create the lock file; false when it exists. */
export function tryCreateLock(path: string, record: LockRecord): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(record));
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes a stale lock without removing a fresh one taken meanwhile: the file
 * is renamed aside first, and put back if what was moved is not the stale one.
 */
export function breakStaleLock(path: string, stale: LockRecord | null): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // Someone else broke it first.
  }
  const moved = readLockRecord(aside);
  const same =
    stale === null
      ? moved === null
      : moved !== null && moved.pid === stale.pid && moved.token === stale.token && moved.at === stale.at;
  if (!same) {
    try {
      linkSync(aside, path);
    } catch {
      // A third process took the lock meanwhile; the one moved aside is lost, and its holder notices on release.
    }
  }
  rmSync(aside, { force: true });
}

export class StateLock implements OperationLock {
  readonly path: string;
  private tail: Promise<void> = Promise.resolve();
  private holding: string | undefined;

  constructor(
    readonly dir: string,
    private readonly waitMs = STATE_LOCK_WAIT_MS,
  ) {
    this.path = join(dir, STATE_LOCK_FILE);
  }

  async acquire(operation: string, signal?: AbortSignal): Promise<() => void> {
    const until = Date.now() + this.waitMs;
    const previous = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((resolve) => (done = resolve));
    if (!(await settledBefore(previous, until, signal))) {
      // Keep the queue's order: the next waiter still waits for the operation running now.
      void previous.then(done);
      if (signal?.aborted) throw interrupted(operation, signal);
      throw this.lockedError(operation, `${this.holding ?? 'an operation'} in this process`);
    }
    let record: LockRecord;
    try {
      record = await this.acquireFile(operation, until, signal);
    } catch (err) {
      done();
      throw err;
    }
    this.holding = operation;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holding = undefined;
      const now = readLockRecord(this.path);
      if (now && now.pid === record.pid && now.token === record.token) rmSync(this.path, { force: true });
      done();
    };
  }

  private async acquireFile(operation: string, until: number, signal?: AbortSignal): Promise<LockRecord> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const record = ownRecord(operation);
    let delayMs = 20;
    for (;;) {
      if (tryCreateLock(this.path, record)) return record;
      const holder = readLockRecord(this.path);
      if (lockIsStale(this.path)) {
        breakStaleLock(this.path, holder);
        continue;
      }
      if (Date.now() >= until) {
        const who = holder
          ? `${holder.operation} by pid ${holder.pid} on ${holder.host}${holder.at ? `, since ${new Date(holder.at).toISOString()}` : ''}`
          : 'a process that is writing the lock';
        throw this.lockedError(operation, who);
      }
      if (signal?.aborted) throw interrupted(operation, signal);
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 250);
    }
  }

  private lockedError(operation: string, who: string): TitanPerfError {
    return new TitanPerfError(
      'TITAN_PERF_STATE_LOCKED',
      `cannot ${operation}: another titan-perf operation (${who}) holds the state directory ${this.dir} (${this.path}) and did not finish within ${this.waitMs} ms; ` +
        'one operation at a time keeps the journal of originals right. Retry when it is done; a lock left by a process that no longer runs is taken over automatically',
    );
  }
}

function interrupted(operation: string, signal: AbortSignal): TitanPerfError {
  const why = signal.reason instanceof Error ? signal.reason.message : 'interrupted';
  return new TitanPerfError(
    'TITAN_PERF_INTERRUPTED',
    `${operation} did not start: it was waiting for the state lock when ${why}`,
  );
}

/** Whether `p` settled before `until` (false also when `signal` fires first). */
function settledBefore(p: Promise<void>, until: number, signal?: AbortSignal): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, until - Date.now()));
      onAbort = () => resolve(false);
      if (signal?.aborted) resolve(false);
      else signal?.addEventListener('abort', onAbort, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}
