/**
 * The pid a log writer left in its pid file, checked before the sidecar
 * (often root) signals it. systemd accepts a PIDFile= that is not root-owned
 * only when the pid belongs to the service; start-stop-daemon refuses to act
 * on a non-root pid file alone. Without a cgroup to compare against, the
 * sidecar applies the same idea with what procfs tells about the process:
 *
 * - the file is a small regular file, not a symlink, writable by its owner only;
 * - the pid is not the sidecar itself, its parent, or 1 (the init of the namespace);
 * - the process runs as the file's owner (a writer records its own pid), unless
 *   root wrote the file;
 * - the process started before the file was last written: a pid reused by a
 *   later process cannot be the one that wrote it.
 */
import { readFileSync } from 'node:fs';
import { TitanPerfError } from '../errors';
import { readTrustedFile } from '../trusted-files';

/** USER_HZ, the unit of /proc/PID/stat's start time, is 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
/** /proc/stat's btime has one-second resolution, so the start time is known to about a second. */
const START_SLACK_MS = 2000;
/** The kernel's PID_MAX_LIMIT on 64-bit. */
const PID_MAX = 4_194_304;

export interface PidCheckOptions {
  /** procfs root, for tests; /proc by default. */
  procRoot?: string;
}

/** The verified pid from `file`; throws a coded error saying why it is not signalled. */
export function verifiedPid(file: string, opts: PidCheckOptions = {}): number {
  const proc = opts.procRoot ?? '/proc';
  const read = readTrustedFile(file, {
    what: 'the pid file',
    maxBytes: 64,
    noFollow: true,
    code: 'TITAN_PERF_PIDFILE_UNSAFE',
  });
  if (read === null) throw refuse(`the pid file ${file} does not exist`);
  const { text, stat } = read;
  if ((stat.mode & 0o022) !== 0)
    throw refuse(
      `the pid file ${file} is writable by others (mode ${(stat.mode & 0o777).toString(8)}); anyone could point it at any process`,
    );
  if (!/^\s*\d{1,7}\s*$/.test(text)) throw refuse(`the pid file ${file} does not hold a process id`);
  const pid = Number(text.trim());
  if (pid <= 1 || pid > PID_MAX) throw refuse(`the pid file ${file} names pid ${pid}, which is never signalled`);
  if (pid === process.pid || pid === process.ppid)
    throw refuse(`the pid file ${file} names the sidecar itself (pid ${pid})`);

  let status: string;
  let statLine: string;
  try {
    status = readFileSync(`${proc}/${pid}/status`, 'utf8');
    statLine = readFileSync(`${proc}/${pid}/stat`, 'utf8');
  } catch {
    throw refuse(`pid ${pid} from ${file} is not running (or not visible in this pid namespace)`);
  }
  const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (!uids) throw refuse(`cannot read the owner of pid ${pid}`);
  const [realUid, effectiveUid] = [Number(uids[1]), Number(uids[2])];
  if (stat.uid !== 0 && stat.uid !== realUid && stat.uid !== effectiveUid) {
    throw refuse(
      `pid ${pid} runs as uid ${realUid}, but ${file} belongs to uid ${stat.uid}; a writer records its own pid`,
    );
  }
  const started = startTimeMs(proc, statLine);
  if (started !== undefined && started > stat.mtimeMs + START_SLACK_MS) {
    throw refuse(
      `pid ${pid} started after ${file} was written, so it is not the process that wrote it (the pid was reused)`,
    );
  }
  return pid;
}

/** Epoch ms at which the process started: boot time plus field 22 of /proc/PID/stat. */
function startTimeMs(proc: string, statLine: string): number | undefined {
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const rest = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[19]);
  let btime: number;
  try {
    btime = Number(/^btime (\d+)$/m.exec(readFileSync(`${proc}/stat`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
  if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return undefined;
  return btime * 1000 + (ticks / CLOCK_TICKS) * 1000;
}

function refuse(message: string): TitanPerfError {
  return new TitanPerfError('TITAN_PERF_PIDFILE_UNSAFE', message);
}
