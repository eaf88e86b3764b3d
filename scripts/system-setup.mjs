// `npm test` sets up the system tools the suite needs before any test runs, the
// way it installs its Node runtimes: as root on Debian or Ubuntu it installs
// what is missing with apt-get; anywhere else it stops with one message naming
// what is missing and the command that installs it. The decision is a pure
// function over facts gathered once (which commands exist, uid, os-release,
// apt-get), so it is tested without touching this machine's packages.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join, relative, sep } from 'node:path';
import { SYSTEM_TOOLS } from './system-tools.mjs';

export const OPT_OUT_FLAG = '--no-system-setup';
export const OPT_OUT_ENV = 'TITAN_PERF_NO_SYSTEM_SETUP';
const PREFIX = 'titan-perf test set-up:';
// Debian keeps admin tools in sbin, which a non-root user's PATH often lacks: such a tool is installed all the same.
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
// Flags that take the next argument as their value (test-all's --node, vitest's own): that value is not a file filter.
const VALUE_FLAGS = new Set([
  '--node',
  '-t',
  '--testNamePattern',
  '-c',
  '--config',
  '--project',
  '--reporter',
  '--outputFile',
  '--root',
  '--dir',
  '--exclude',
  '--shard',
  '--maxWorkers',
  '--pool',
]);

/**
 * The tools the selected test files need. Positional arguments are vitest's file filters (substrings of a
 * path); with none, or when they match no file, every tool is needed (a run that checks too much only asks
 * for more, never starts tests without what they need).
 */
export function selectTools(tools, { args = [], testFiles = [] } = {}) {
  const filters = fileFilters(args);
  if (filters.length === 0) return tools;
  const files = testFiles.filter((f) => filters.some((x) => f.includes(x)));
  if (files.length === 0) return tools;
  const folders = new Set(files.map((f) => f.split('/').slice(0, 2).join('/')));
  return tools.filter((t) => t.folders.some((d) => folders.has(d)));
}

function fileFilters(args) {
  return args.filter((a, i) => !a.startsWith('-') && !VALUE_FLAGS.has(args[i - 1]));
}

export function parseOsRelease(text) {
  const out = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

export function isDebianLike(osRelease) {
  const ids = [osRelease?.ID, ...(osRelease?.ID_LIKE ?? '').split(/\s+/)];
  return ids.some((id) => id === 'debian' || id === 'ubuntu');
}

/** The exact command a person runs to install `packages` (sudo unless already root). */
export function installCommand(packages, uid) {
  const sudo = uid === 0 ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * What to do, from facts only:
 *   tools      the entries needed by this run (selectTools)
 *   present    the commands found
 *   uid        the effective uid
 *   osRelease  parsed /etc/os-release (null when absent)
 *   hasAptGet  whether apt-get exists
 *   optOut     the user manages this machine (--no-system-setup, TITAN_PERF_NO_SYSTEM_SETUP=1)
 * Returns { action: 'ok' | 'install' | 'skip' | 'stop', missing, optionalMissing, packages, message }.
 */
export function decideSetup({ tools, present, uid, osRelease, hasAptGet, optOut }) {
  const have = new Set(present);
  const absent = tools.filter((t) => !have.has(t.command));
  const missing = absent.filter((t) => t.required !== false);
  const optionalMissing = absent.filter((t) => t.required === false);
  const base = { missing, optionalMissing, packages: [] };
  if (missing.length === 0) return { ...base, action: 'ok', message: optionalNote(optionalMissing) };
  if (optOut) {
    return {
      ...base,
      action: 'skip',
      message:
        `${PREFIX} skipped (${OPT_OUT_FLAG} / ${OPT_OUT_ENV}=1); not installed: ` +
        `${missing.map((t) => t.command).join(', ')} (the tests that need them will fail)`,
    };
  }
  const packages = unique([...missing, ...optionalMissing].map((t) => t.package));
  const cannot = !isDebianLike(osRelease)
    ? `this is not Debian or Ubuntu (ID=${osRelease?.ID ?? 'unknown'}), so apt-get is not used`
    : uid !== 0
      ? 'npm test is not running as root, so it does not install packages'
      : !hasAptGet
        ? 'apt-get is not on this machine'
        : null;
  if (cannot) return { ...base, action: 'stop', message: stopMessage(missing, cannot, uid, osRelease) };
  const why = missing.map((t) => `${t.command} for ${t.folders.join(', ')}`).join('; ');
  return {
    ...base,
    action: 'install',
    packages,
    message:
      `${PREFIX} apt-get install ${packages.join(' ')} ` +
      `(missing system tools the tests run: ${why}; ${OPT_OUT_FLAG} skips this)`,
  };
}

/** The one message a run stops with: what is missing, why it was not installed, and how to install it. */
export function stopMessage(missing, cannot, uid, osRelease) {
  const packages = unique(missing.map((t) => t.package));
  const width = Math.max(...missing.map((t) => t.command.length));
  const lines = [`${PREFIX} no test was run: these system tools are missing and ${cannot}.`];
  for (const t of missing) {
    lines.push(`  ${t.command.padEnd(width)}  (Debian package ${t.package}) ${t.folders.join(', ')}: ${t.why}`);
  }
  const cmd = installCommand(packages, uid);
  if (isDebianLike(osRelease)) lines.push('Install them with:', `  ${cmd}`);
  else lines.push("Install them with this system's package manager; on Debian or Ubuntu that is:", `  ${cmd}`);
  lines.push(
    'Or, if you manage this machine yourself, run without this check: ' +
      `npm test -- ${OPT_OUT_FLAG} (or ${OPT_OUT_ENV}=1); the tests that need a missing tool then fail.`,
  );
  return lines.join('\n');
}

function optionalNote(optionalMissing) {
  if (optionalMissing.length === 0) return '';
  const list = optionalMissing.map((t) => `${t.command} (${t.package}; ${t.folders.join(', ')}: ${t.why})`).join(', ');
  return `${PREFIX} optional, not installed: ${list}`;
}

function unique(xs) {
  return [...new Set(xs)];
}

/** Whether `command` is an executable on PATH or in the sbin directories. */
export function hasCommand(command, pathEnv = process.env.PATH ?? '') {
  return unique([...pathEnv.split(delimiter).filter(Boolean), ...SBIN_DIRS]).some((d) => {
    try {
      accessSync(join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The commands of `tools` that are there. */
export function presentCommands(tools, pathEnv = process.env.PATH ?? '') {
  return tools.map((t) => t.command).filter((cmd) => hasCommand(cmd, pathEnv));
}

function readOsRelease() {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(readFileSync(path, 'utf8'));
    } catch {
      // Try the next location.
    }
  }
  return null;
}

function listTestFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(join(root, 'test'));
  return out;
}

function aptGet(args, env) {
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/**
 * The test command's set-up step: returns argv without the opt-out flag, or exits 1 with one message when
 * a tool the selected tests need is missing and cannot be installed here.
 */
export function systemSetup(argv, { root, env = process.env } = {}) {
  const optOut = argv.includes(OPT_OUT_FLAG) || env[OPT_OUT_ENV] === '1';
  const args = argv.filter((a) => a !== OPT_OUT_FLAG);
  const testFiles = fileFilters(args).length > 0 && root ? listTestFiles(root) : [];
  const tools = selectTools(SYSTEM_TOOLS, { args, testFiles });
  const present = presentCommands(tools, env.PATH);
  // os-release and apt-get matter only when something is missing: a ready machine pays for the PATH scan alone.
  const complete = tools.every((t) => t.required === false || present.includes(t.command));
  const uid = process.getuid?.() ?? -1;
  const osRelease = complete ? null : readOsRelease();
  const hasAptGet = complete ? false : hasCommand('apt-get', env.PATH);
  const decision = decideSetup({ tools, present, uid, osRelease, hasAptGet, optOut });
  if (decision.message) console.error(decision.message);
  if (decision.action === 'stop') process.exit(1);
  if (decision.action !== 'install') return args;

  const update = aptGet(['-qq', 'update'], env);
  const install = update.ok
    ? aptGet(['-qq', 'install', '-y', '--no-install-recommends', ...decision.packages], env)
    : update;
  const still = decision.missing.filter((t) => !hasCommand(t.command, env.PATH));
  if (install.ok && still.length === 0) return args;
  if (install.output) console.error(install.output.split('\n').slice(-15).join('\n'));
  const cannot = install.ok
    ? 'apt-get installed their packages but the commands are still not found'
    : `apt-get ${update.ok ? 'install' : 'update'} failed (no network or no package source?)`;
  console.error(stopMessage(still.length ? still : decision.missing, cannot, uid, osRelease));
  process.exit(1);
}
