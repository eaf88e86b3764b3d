/**
 * The sidecar's command line: subcommand plus flags, parsed strictly
 * (node:util parseArgs). Flags that are config fields become the highest
 * config layer, so they are validated by the same schema, with the same
 * messages, as a config file.
 */
import { parseArgs } from 'node:util';
import { ArgumentError } from '../src/errors';

export const COMMANDS = ['plan', 'apply', 'verify', 'rollback', 'run', 'status'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  command: Command | 'help';
  config?: string;
  profile?: string;
  stateDir?: string;
  procRoot: string;
  dryRun: boolean;
  json: boolean;
  atomic: boolean;
  force: boolean;
  /** Config layer built from flags (`--interval`, `--listen`, ...). */
  overrides: Record<string, unknown>;
}

export const USAGE = `usage: titan-perf-sidecar <command> [flags]

commands:
  plan       show current vs desired per setting; exit 0 nothing to change, 2 changes pending,
             1 a store could not be planned (unreachable, credentials refused)
  apply      journal originals, write, read back (--atomic by default: a failure undoes this run)
  verify     drift report; exit 0 in the desired state, 3 on drift
  rollback   restore the journalled originals (idempotent; works after a crash)
  run        daemon: apply, then verify every interval, repair or report drift, /healthz and /readyz
  status     system readings and Redis health

flags:
  --config FILE        YAML or JSON config (same schema as the library)
  --profile NAME       default | hft
  --state-dir DIR      journal and generated files (default: config dataDir)
  --proc-root DIR      procfs root (default /proc)
  --dry-run            plan only, change nothing
  --json               machine-readable output
  --no-atomic          apply: keep what succeeded when a later setting fails
  --force              apply guarded changes (e.g. maxmemory below used memory + headroom)
  --interval MS        run: ms between verify passes
  --report-only        run: log drift, do not repair it
  --listen HOST:PORT   run: probe listener (default 127.0.0.1:9477)
  --rollback-on-exit   run: restore the originals on SIGTERM
exit codes: 0 ok, 1 failure, 2 invalid input or changes pending (plan), 3 drift (verify)
`;

export function parseCliArgs(argv: string[]): CliArgs {
  // biome-ignore lint/suspicious/noImplicitAnyLet: TypeScript types it from its one assignment below (strict mode reports any use before it)
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      allowNegative: true,
      strict: true,
      options: {
        config: { type: 'string' },
        profile: { type: 'string' },
        'state-dir': { type: 'string' },
        'proc-root': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        atomic: { type: 'boolean', default: true },
        force: { type: 'boolean', default: false },
        interval: { type: 'string' },
        'report-only': { type: 'boolean' },
        listen: { type: 'string' },
        'rollback-on-exit': { type: 'boolean' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new ArgumentError('flags', argv.join(' '), `known flags only (${(err as Error).message}); see --help`);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0)
    return {
      command: 'help',
      procRoot: '/proc',
      dryRun: false,
      json: false,
      atomic: true,
      force: false,
      overrides: {},
    };
  if (positionals.length > 1)
    throw new ArgumentError('command', positionals.join(' '), `one command: ${COMMANDS.join(', ')}`);
  const command = positionals[0];
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new ArgumentError('command', command, `one of ${COMMANDS.join(', ')}`);
  for (const name of ['config', 'state-dir', 'proc-root'] as const) {
    if (values[name] !== undefined && values[name] === '') throw new ArgumentError(`--${name}`, '', 'a path');
  }

  const daemon: Record<string, unknown> = {};
  if (values.interval !== undefined) {
    // Left as given when not a number, so the schema reports it with the allowed range.
    daemon.verifyInterval = /^\d+$/.test(values.interval) ? Number(values.interval) : values.interval;
  }
  if (values['report-only'] !== undefined) daemon.drift = values['report-only'] ? 'report' : 'repair';
  if (values['rollback-on-exit'] !== undefined) daemon.rollbackOnExit = values['rollback-on-exit'];
  if (values.listen !== undefined) {
    const m = /^(.+):(\d{1,5})$/.exec(values.listen);
    if (!m)
      throw new ArgumentError('--listen', values.listen, "HOST:PORT, e.g. '127.0.0.1:9477' (port 0 picks a free one)");
    daemon.host = m[1].replace(/^\[(.*)\]$/, '$1');
    daemon.port = Number(m[2]);
  }
  const overrides: Record<string, unknown> = {};
  if (Object.keys(daemon).length > 0) overrides.system = { daemon };
  if (values.force) overrides.redis = { forceMaxMemory: true };

  return {
    command: command as Command,
    config: values.config,
    profile: values.profile,
    stateDir: values['state-dir'],
    procRoot: values['proc-root'] ?? '/proc',
    dryRun: values['dry-run'] ?? false,
    json: values.json ?? false,
    atomic: values.atomic ?? true,
    force: values.force ?? false,
    overrides,
  };
}
