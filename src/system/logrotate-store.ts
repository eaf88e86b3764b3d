/**
 * Log rotation by the real logrotate binary (execFile, never a shell): the
 * store owns one generated config file in the state dir (its only setting),
 * and `rotate()` runs logrotate with its own state file on the daemon's
 * schedule, since a container has no cron.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LogRotationConfig } from '../config/sections/system';
import type { DesiredSetting, Store } from '../engine/types';
import { TitanPerfError, type ConfigIssue } from '../errors';
import { checkTrustedDir, createExclusive, readTrustedFile } from '../trusted-files';
import { renderLogrotateConfig } from './logrotate-config';
import { explainLogrotateErrors } from './logrotate-rules';
import { verifiedPid } from './pid-file';

const run = promisify(execFile);

export interface LogrotateStoreOptions {
  logRotation: LogRotationConfig;
  /** Holds the generated config and logrotate's state file. */
  stateDir: string;
  /** Defaults to /usr/sbin/logrotate, else /usr/bin/logrotate. */
  logrotateBin?: string;
}

export interface RotationReport {
  /** Log files that were rotated (truncated or replaced). */
  rotated: string[];
  /** New archive files (`app.log.1.gz`). */
  created: string[];
  /** Archives logrotate removed (rotate count, maxage). */
  removed: string[];
  /** Pids sent the reopen signal (create mode with a pid file). */
  signalled: number[];
  /** logrotate's own refusals, explained. */
  errors: string[];
}

export const LOGROTATE_CONFIG_FILE = 'logrotate.conf';
export const LOGROTATE_STATE_FILE = 'logrotate.status';

export class LogrotateStore implements Store {
  readonly name = 'logrotate';
  readonly configPath: string;
  readonly statePath: string;
  private readonly rotation: LogRotationConfig;
  private readonly bin: string;

  constructor(opts: LogrotateStoreOptions) {
    this.rotation = opts.logRotation;
    this.configPath = join(opts.stateDir, LOGROTATE_CONFIG_FILE);
    this.statePath = join(opts.stateDir, LOGROTATE_STATE_FILE);
    this.bin = opts.logrotateBin ?? (existsSync('/usr/sbin/logrotate') ? '/usr/sbin/logrotate' : '/usr/bin/logrotate');
  }

  async desired(): Promise<DesiredSetting[]> {
    if (this.rotation.paths.length === 0) return [];
    const setting: DesiredSetting = {
      key: this.configPath,
      value: renderLogrotateConfig(this.rotation),
      direction: 'exact',
    };
    if (this.rotation.mode === 'copytruncate') {
      setting.warnings = [
        'copytruncate loses lines written between copy and truncate and corrupts files not opened with O_APPEND; prefer mode: create with a pidFile',
      ];
    }
    if (!existsSync(this.bin))
      setting.skip = `logrotate is not installed (${this.bin}); install the logrotate package in the sidecar image`;
    return [setting];
  }

  async read(key: string): Promise<string | null> {
    this.ownKey(key);
    const read = readTrustedFile(key, {
      what: 'the generated logrotate config',
      maxBytes: 1024 * 1024,
      noFollow: true,
      code: 'TITAN_PERF_LOGROTATE_UNSAFE',
    });
    if (read === null) return null;
    const { text, stat: st } = read;
    // logrotate (as root) silently ignores such a config: that is drift even if the text is right.
    const uid = process.getuid?.() ?? 0;
    if ((st.mode & 0o022) !== 0 || (st.uid !== 0 && st.uid !== uid)) {
      return `# unusable: mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}; logrotate ignores a group/world-writable config or one not owned by root\n${text}`;
    }
    return text;
  }

  async write(key: string, value: string): Promise<void> {
    this.ownKey(key);
    mkdirSync(dirname(key), { recursive: true, mode: 0o700 });
    checkTrustedDir(dirname(key), 'the state directory', 'TITAN_PERF_STATE_DIR_UNSAFE');
    // A fresh random name, O_EXCL|O_NOFOLLOW: a symlink planted under a guessable name would make root write elsewhere.
    const tmp = `${key}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = createExclusive(tmp, 0o644);
      try {
        writeFileSync(fd, value);
        fchmodSync(fd, 0o644); // the umask may have narrowed it; logrotate wants exactly 0644 or 0444
      } finally {
        closeSync(fd);
      }
      const problems = await this.validate(tmp);
      if (problems.length > 0) {
        throw new TitanPerfError(
          'TITAN_PERF_LOGROTATE_INVALID',
          `logrotate rejects the generated config:\n  ${problems.join('\n  ')}`,
        );
      }
      renameSync(tmp, key);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async remove(key: string): Promise<void> {
    this.ownKey(key);
    rmSync(key, { force: true });
  }

  satisfies(current: string | null, desired: DesiredSetting): boolean {
    return current === desired.value;
  }

  /**
   * Before anything is written: `logrotate -d` on the config this store would
   * write, so an unknown `su` user, a log directory logrotate will not touch or
   * a file named twice refuses the run instead of surfacing mid-apply.
   */
  async check(): Promise<ConfigIssue[]> {
    if (this.rotation.paths.length === 0 || !existsSync(this.bin)) return [];
    const dir = mkdtempSync(join(tmpdir(), 'titan-perf-logrotate-check-'));
    try {
      const config = join(dir, LOGROTATE_CONFIG_FILE);
      writeFileSync(config, renderLogrotateConfig(this.rotation), { mode: 0o644 });
      chmodSync(config, 0o644);
      const problems = await this.validate(config, join(dir, LOGROTATE_STATE_FILE));
      return problems.map((problem) => ({
        path: fieldOf(problem),
        value: fieldValue(this.rotation, fieldOf(problem)),
        expected: `settings logrotate accepts: ${problem}`,
        source: 'logrotate -d',
      }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `logrotate -d` on a config: its `error:` lines, explained (empty when valid). */
  async validate(configPath = this.configPath, debugState = `${this.statePath}.validate`): Promise<string[]> {
    try {
      const { stderr } = await run(this.bin, ['-d', '-s', debugState, configPath], { timeout: 60_000 });
      return explainLogrotateErrors(stderr);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      const explained = explainLogrotateErrors(e.stderr ?? '');
      return explained.length > 0 ? explained : [e.message];
    } finally {
      rmSync(debugState, { force: true });
    }
  }

  /** One logrotate run with the store's state file; reports what changed on disk. */
  async rotate(): Promise<RotationReport> {
    const report: RotationReport = { rotated: [], created: [], removed: [], signalled: [], errors: [] };
    if (this.rotation.paths.length === 0 || !existsSync(this.configPath)) return report;
    const dirs = [...new Set(this.rotation.paths.map((p) => dirname(p)))];
    const before = snapshot(dirs);
    let stderr = '';
    try {
      ({ stderr } = await run(this.bin, ['-s', this.statePath, this.configPath], { timeout: 10 * 60_000 }));
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      stderr = e.stderr ?? '';
      if (!stderr) report.errors.push(e.message);
    }
    report.errors.push(...explainLogrotateErrors(stderr));
    const after = snapshot(dirs);
    for (const [path, was] of before) {
      const now = after.get(path);
      if (!now) report.removed.push(path);
      else if (now.ino !== was.ino || now.size < was.size) report.rotated.push(path);
    }
    for (const path of after.keys()) if (!before.has(path)) report.created.push(path);
    if (report.rotated.length > 0 && this.rotation.mode === 'create' && this.rotation.pidFile)
      this.signalWriter(report);
    return report;
  }

  private signalWriter(report: RotationReport): void {
    const file = this.rotation.pidFile as string;
    try {
      const pid = verifiedPid(file);
      process.kill(pid, this.rotation.reopenSignal);
      report.signalled.push(pid);
    } catch (err) {
      report.errors.push(
        `could not send ${this.rotation.reopenSignal} to the writer from ${file}: ${(err as Error).message}; it keeps writing to the rotated file`,
      );
    }
  }

  private ownKey(key: string): void {
    if (key !== this.configPath) {
      throw new TitanPerfError(
        'TITAN_PERF_LOGROTATE_KEY',
        `the logrotate store manages only ${this.configPath}, not ${JSON.stringify(key)}`,
      );
    }
  }
}

/** The config field a logrotate refusal is about. */
function fieldOf(problem: string): string {
  if (/duplicate log entry|insecure permissions|skipping/i.test(problem)) return 'system.logRotation.paths';
  if (/unknown (user|group)/i.test(problem)) return 'system.logRotation.su';
  return 'system.logRotation';
}

function fieldValue(rotation: LogRotationConfig, field: string): unknown {
  if (field === 'system.logRotation.su') return rotation.su;
  if (field === 'system.logRotation.paths') return rotation.paths;
  return undefined;
}

function snapshot(dirs: string[]): Map<string, { ino: number; size: number }> {
  const out = new Map<string, { ino: number; size: number }>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const st = statSync(path);
        if (st.isFile()) out.set(path, { ino: st.ino, size: st.size });
      } catch {
        // Vanished between readdir and stat: nothing to report.
      }
    }
  }
  return out;
}
