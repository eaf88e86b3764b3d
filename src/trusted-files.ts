/**
 * Files and directories a privileged process acts on: the config, the state
 * directory and its journal, a writer's pid file. Each is opened without
 * blocking (a FIFO would freeze the event loop), checked with fstat on the
 * opened descriptor (no race between check and use), size-bounded (a
 * `/dev/zero` would grow the process without limit), and, where the file
 * decides what root writes or signals, refused when someone other than its
 * owner could have changed it, in the way sshd's StrictModes and logrotate do.
 * Errors name the path and the rule, never the file's contents.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { TitanPerfError } from './errors';

export interface TrustedReadOptions {
  /** What the file is, for messages: 'the journal', 'the config file'. */
  what: string;
  /** Refuse larger files (bytes). */
  maxBytes: number;
  /** Refuse a symlink at the last path component (O_NOFOLLOW). */
  noFollow?: boolean;
  /** Refuse a file that a group or other users may write, or that is owned by anyone but root or this user. */
  strictOwner?: boolean;
  /** Error code for refusals. */
  code: string;
}

export interface TrustedFile {
  text: string;
  stat: Stats;
}

/** Reads a small regular file safely; `null` when it does not exist. */
export function readTrustedFile(path: string, opts: TrustedReadOptions): TrustedFile | null {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP' && opts.noFollow)
      throw refused(opts, path, 'is a symbolic link; it must be a regular file (a planted link could point anywhere)');
    throw new TitanPerfError(opts.code, `cannot open ${opts.what} ${path} (${code ?? (err as Error).message})`, {
      cause: err,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw refused(opts, path, `is ${kindOf(stat)}, not a regular file`);
    if (stat.size > opts.maxBytes)
      throw refused(opts, path, `is ${stat.size} bytes; at most ${opts.maxBytes} are read`);
    if (opts.strictOwner) {
      const why = ownerProblem(stat);
      if (why) throw refused(opts, path, why);
    }
    // Sized from fstat, grown when the file grows (procfs-like files report 0), never past one byte beyond the limit.
    let buf = Buffer.allocUnsafe(Math.min(Math.max(stat.size, 4096), opts.maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, opts.maxBytes + 1));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      let got: number;
      try {
        got = readSync(fd, buf, n, buf.length - n, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN')
          throw refused(opts, path, 'cannot be read without waiting');
        throw err;
      }
      if (got === 0) break;
      n += got;
      if (n > opts.maxBytes) throw refused(opts, path, `holds more than ${opts.maxBytes} bytes`);
    }
    return { text: buf.subarray(0, n).toString('utf8'), stat };
  } finally {
    closeSync(fd);
  }
}

/**
 * A directory whose contents decide what root restores: it must be a real
 * directory (not a symlink), owned by this user or root, and writable by its
 * owner alone, so nobody else can plant or swap files in it.
 */
export function checkTrustedDir(dir: string, what: string, code: string): void {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new TitanPerfError(code, `cannot inspect ${what} ${dir} (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    });
  }
  if (st.isSymbolicLink()) throw new TitanPerfError(code, `${what} ${dir} is a symbolic link; use the real directory`);
  if (!st.isDirectory()) throw new TitanPerfError(code, `${what} ${dir} is ${kindOf(st)}, not a directory`);
  const why = ownerProblem(st);
  if (why) throw new TitanPerfError(code, `${what} ${dir} ${why}; fix with: chown ${uid()} ${dir} && chmod 700 ${dir}`);
}

/** Opens a new file for writing, refusing an existing file or a planted symlink (O_EXCL | O_NOFOLLOW). */
export function createExclusive(path: string, mode: number): number {
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
}

/** Why a file or directory with this stat may have been changed by someone else; undefined when it is fine. */
export function ownerProblem(st: Stats): string | undefined {
  const me = uid();
  if (st.uid !== me && st.uid !== 0) return `is owned by uid ${st.uid}, not by this user (uid ${me}) or root`;
  if ((st.mode & 0o022) !== 0)
    return `is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return undefined;
}

function refused(opts: TrustedReadOptions, path: string, why: string): TitanPerfError {
  return new TitanPerfError(opts.code, `refusing ${opts.what} ${path}: it ${why}`);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory (EISDIR)';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function uid(): number {
  return process.geteuid?.() ?? 0;
}
