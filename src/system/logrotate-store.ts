/**
 * Log rotation by the real logrotate binary (execFile, never a shell): the
 * store owns one generated config file in the state dir (its only setting),
 * and `rotate()` runs logrotate with its own state file on the daemon's
 * schedule, since a container has no cron.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LogRotationConfig } from '../config/sections/system';
import type { DesiredSetting, Store } from '../engine/types';
import { TitanPerfError } from '../errors';
import { renderLogrotateConfig } from './logrotate-config';
import { explainLogrotateErrors } from './logrotate-rules';

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
    const setting: DesiredSetting = { key: this.configPath, value: renderLogrotateConfig(this.rotation), direction: 'exact' };
    if (this.rotation.mode === 'copytruncate') {
      setting.warnings = ['copytruncate loses lines written between copy and truncate and corrupts files not opened with O_APPEND; prefer mode: create with a pidFile'];
    }
    if (!existsSync(this.bin)) setting.skip = `logrotate is not installed (${this.bin}); install the logrotate package in the sidecar image`;
    return [setting];
  }

  async read(key: string): Promise<string | null> {
    this.check(key);
    let text: string;
    let st: import('node:fs').Stats;
    try {
      st = statSync(key);
      text = readFileSync(key, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // logrotate (as root) silently ignores such a config: that is drift even if the text is right.
    const uid = process.getuid?.() ?? 0;
    if ((st.mode & 0o022) !== 0 || (st.uid !== 0 && st.uid !== uid)) {
      return `# unusable: mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}; logrotate ignores a group/world-writable config or one not owned by root\n${text}`;
    }
    return text;
  }

  async write(key: string, value: string): Promise<void> {
    this.check(key);
    mkdirSync(dirname(key), { recursive: true, mode: 0o700 });
    const tmp = `${key}.${process.pid}.tmp`;
    writeFileSync(tmp, value, { mode: 0o644 });
    chmodSync(tmp, 0o644); // the umask may have narrowed it; logrotate wants exactly 0644 or 0444
    try {
      const problems = await this.validate(tmp);
      if (problems.length > 0) {
        throw new TitanPerfError('TITAN_PERF_LOGROTATE_INVALID', `logrotate rejects the generated config:\n  ${problems.join('\n  ')}`);
      }
      renameSync(tmp, key);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async remove(key: string): Promise<void> {
    this.check(key);
    rmSync(key, { force: true });
  }

  satisfies(current: string | null, desired: DesiredSetting): boolean {
    return current === desired.value;
  }

  /** `logrotate -d` on a config: its `error:` lines, explained (empty when valid). */
  async validate(configPath = this.configPath): Promise<string[]> {
    const debugState = `${this.statePath}.validate`;
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
    if (report.rotated.length > 0 && this.rotation.mode === 'create' && this.rotation.pidFile) this.signalWriter(report);
    return report;
  }

  private signalWriter(report: RotationReport): void {
    const file = this.rotation.pidFile as string;
    try {
      const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no valid pid in ${file}`);
      process.kill(pid, this.rotation.reopenSignal);
      report.signalled.push(pid);
    } catch (err) {
      report.errors.push(`could not send ${this.rotation.reopenSignal} to the writer from ${file}: ${(err as Error).message}; it keeps writing to the rotated file`);
    }
  }

  private check(key: string): void {
    if (key !== this.configPath) {
      throw new TitanPerfError('TITAN_PERF_LOGROTATE_KEY', `the logrotate store manages only ${this.configPath}, not ${JSON.stringify(key)}`);
    }
  }
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
