/**
 * How long the main thread waited for a CPU: runnable, but not running,
 * because other processes held the cores or the container's CPU quota ran
 * out (a throttled thread waits on its run queue too). A stall during which
 * the thread mostly waited was the machine's, not the app code's: the fix is
 * CPU requests and limits, and a stack taken then names whatever code was
 * about to run. Linux keeps the figure per thread in
 * /proc/thread-self/schedstat (second field: ns spent on a run queue); it is
 * read once per stall scan (every second at most), opened and closed each
 * time so that no descriptor outlives the read. Elsewhere, or when the
 * kernel keeps no schedstats, the wait is unknown and nothing is claimed.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const SCHEDSTAT = '/proc/thread-self/schedstat';
/** "run_ns wait_ns slices\n": three integers of at most 20 digits. */
const READ_BYTES = 96;
const FIELDS = /^(\d{1,20}) (\d{1,20}) (\d{1,20})\s*$/;

/** The thread's total run-queue wait in ns, or undefined where it cannot be read. */
function readWaitNs(): number | undefined {
  let fd = -1;
  try {
    fd = openSync(SCHEDSTAT, 'r');
    const buf = Buffer.alloc(READ_BYTES);
    const n = readSync(fd, buf, 0, READ_BYTES, 0);
    const m = FIELDS.exec(buf.toString('latin1', 0, n));
    return m ? Number(m[2]) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Readings kept: a regular scan's and the rescans that can follow a stall. */
const KEEP = 8;

export class CpuWait {
  /** performance.now() of each reading, and the thread's total wait then, ns; oldest first. */
  private readings: { at: number; ns: number }[] = [];
  /** The file is missing or unreadable here: not tried again. */
  private unavailable = process.platform !== 'linux';

  /**
   * Reads the calling thread's total wait (call it on the main thread, at
   * each stall scan). Readings are taken on the main thread, so none can
   * fall inside a stall: the latest one before a stall began bounds it.
   */
  read(at: number): void {
    if (this.unavailable) return;
    const ns = readWaitNs();
    const last = this.readings[this.readings.length - 1];
    // A counter that went back was not this thread's: start over.
    if (ns === undefined || (last && ns < last.ns)) {
      this.unavailable = ns === undefined;
      this.readings = [];
      if (ns === undefined) return;
    }
    this.readings.push({ at, ns });
    if (this.readings.length > KEEP) this.readings.shift();
  }

  /** The thread's total wait at the latest reading, ns; undefined when unknown here. */
  latestNs(): number | undefined {
    return this.readings[this.readings.length - 1]?.ns;
  }

  /**
   * The bounds of a stall's wait for a CPU, ms: `stallMs` long, it began no
   * earlier than `since` (performance.now() time) and ended before the
   * latest reading. The wait between the reading before it and the latest
   * one holds the stall's: at most all of it, and at least what is left after
   * the time outside the stall has taken its most (one ms of wait a ms). The
   * readings are a scan apart (up to a second), so the lower bound is only
   * high when they bracket the stall closely. Undefined when no reading is
   * that old or the wait is unknown here.
   */
  bounds(since: number, stallMs: number): CpuWaitBounds | undefined {
    const last = this.readings[this.readings.length - 1];
    let before: { at: number; ns: number } | undefined;
    for (const r of this.readings) if (r.at <= since) before = r;
    if (!last || !before) return undefined;
    const waited = (last.ns - before.ns) / 1e6;
    const outside = Math.max(0, last.at - before.at - stallMs);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { minMs: round(Math.max(0, Math.min(waited, stallMs) - outside)), maxMs: round(Math.min(waited, stallMs)) };
  }
}

export interface CpuWaitBounds {
  /** The main thread waited at least this long for a CPU during the stall. */
  minMs: number;
  /** ... and at most this long. */
  maxMs: number;
}

/** A stall during which the main thread waited this share of its length for a CPU was the machine's. */
export const CPU_STARVED_SHARE = 0.5;
