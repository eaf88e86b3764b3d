#!/usr/bin/env node
/**
 * titan-perf-sidecar: plan, apply, verify, rollback, run, status.
 * The whole config (file, profile, env, flags) is validated before any store
 * is built, so invalid input exits 2 with nothing touched.
 */
import { resolveConfig } from '../src/config/load';
import type { TitanPerfConfig } from '../src/config/types';
import { createSidecarEngine, type SidecarEngine } from '../src/wiring/create-engine';
import { UNAVAILABLE_KEY } from '../src/engine/engine';
import { TEST_ENV_PREFIX } from '../src/config/env-names';
import { ConfigError, TitanPerfError } from '../src/errors';
import { readSystemReadings } from '../src/system/system-readings';
import { parseCliArgs, USAGE, type CliArgs } from './args';
import { runDaemon } from './daemon';
import { applyText, planTable, readingsText, rollbackText, verifyText } from './format';

const PAUSE_ENV = `${TEST_ENV_PREFIX}PAUSE_AFTER_JOURNAL`;
const DELAY_ENV = `${TEST_ENV_PREFIX}DELAY_AFTER_JOURNAL_MS`;
const LOCK_WAIT_ENV = `${TEST_ENV_PREFIX}LOCK_WAIT_MS`;
const EXIT = { ok: 0, failed: 1, invalid: 2, pending: 2, drift: 3 } as const;

// Input errors: the user fixes the config or flags; nothing was touched.
const INPUT_ERRORS = new Set([
  'TITAN_PERF_CONFIG_INVALID',
  'TITAN_PERF_INVALID_ARGUMENT',
  'TITAN_PERF_SYSCTL_KEY_INVALID',
  'TITAN_PERF_SYSCTL_VALUE_INVALID',
]);

async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  let config: TitanPerfConfig;
  try {
    args = parseCliArgs(argv);
    if (args.command === 'help') {
      process.stdout.write(USAGE);
      return EXIT.ok;
    }
    config = resolveConfig({
      env: process.env,
      file: args.config,
      profile: args.profile,
      code: args.overrides,
      strict: true,
    }).config;
  } catch (err) {
    return fail(err);
  }

  const log = args.command === 'run' ? jsonLog : () => {};
  let built: SidecarEngine;
  try {
    built = createSidecarEngine({
      config,
      stateDir: args.stateDir,
      procRoot: args.procRoot,
      allStores: args.command === 'rollback',
      log,
      // Test-only hook, documented in the README: freeze between journal and first write.
      pauseAfterJournal: process.env[PAUSE_ENV] === '1',
      // Test-only hooks, documented with the one above: a slow apply, a short wait for the state lock.
      delayAfterJournalMs: testNumber(DELAY_ENV),
      lockWaitMs: testNumber(LOCK_WAIT_ENV),
      warn: (m) => process.stderr.write(`titan-perf-sidecar: ${m}\n`),
    });
  } catch (err) {
    return fail(err);
  }
  if (built.redisUnavailable) process.stderr.write(`titan-perf-sidecar: ${built.redisUnavailable}\n`);

  try {
    switch (args.command) {
      case 'plan':
        return await plan(built, args);
      case 'apply': {
        warnReadOnly(built);
        const r = await built.engine.apply({ atomic: args.atomic, dryRun: args.dryRun, force: args.force });
        out(args, r, applyText);
        // A store that could not be reached did not reach its desired state either.
        return r.ok && (r.dryRun || r.unavailable.length === 0) ? EXIT.ok : EXIT.failed;
      }
      case 'verify': {
        const r = await built.engine.verify();
        out(args, r, verifyText);
        if (!r.inSync) return EXIT.drift;
        return r.unavailable.length === 0 ? EXIT.ok : EXIT.failed;
      }
      case 'rollback': {
        if (args.dryRun) {
          const originals = await built.engine.originals();
          out(
            args,
            { originals },
            () =>
              originals.map((o) => `would restore ${o.store} ${o.key} = ${o.original ?? '(absent)'}\n`).join('') ||
              'nothing to roll back\n',
          );
          return EXIT.ok;
        }
        const r = await built.engine.rollback();
        out(args, r, rollbackText);
        return r.ok ? EXIT.ok : EXIT.failed;
      }
      case 'status':
        return await status(built, args);
      case 'run': {
        warnReadOnly(built);
        if (args.dryRun) {
          const plan = await built.engine.plan({ force: args.force });
          out(args, { plan }, () => planTable(plan));
          return EXIT.ok;
        }
        return await runDaemon({
          built,
          daemon: config.system.daemon,
          rotateInterval: config.system.logRotation.interval,
          atomic: args.atomic,
          force: args.force,
          log,
        });
      }
    }
    return EXIT.invalid;
  } catch (err) {
    return fail(err);
  } finally {
    if (args.command !== 'run') await built.close().catch(() => {});
  }
}

async function plan(built: SidecarEngine, args: CliArgs): Promise<number> {
  const entries = await built.engine.plan({ force: args.force });
  const access = built.sysctl?.access();
  warnReadOnly(built);
  out(args, { plan: entries, sysctlAccess: access, redisUnavailable: built.redisUnavailable }, () => {
    let text = planTable(entries);
    if (access && access.kubernetesSysctls.length > 0) {
      text += '\nKubernetes lets a pod set these without privilege (spec.securityContext.sysctls):\n';
      for (const s of access.kubernetesSysctls) text += `  - name: ${s.name}\n    value: "${s.value}"\n`;
    }
    return text;
  });
  // A store that could not be planned (unreachable, refused credentials) makes the plan incomplete: not "nothing to change".
  if (entries.some((e) => e.key === UNAVAILABLE_KEY)) return EXIT.failed;
  return entries.some((e) => e.action === 'change') ? EXIT.pending : EXIT.ok;
}

async function status(built: SidecarEngine, args: CliArgs): Promise<number> {
  const system = await readSystemReadings({ procRoot: args.procRoot, sysctl: built.sysctl });
  let redis: unknown;
  if (built.redis?.health) {
    try {
      redis = await built.redis.health();
    } catch (err) {
      redis = { error: (err as Error).message };
    }
  } else if (built.redisUnavailable) {
    redis = { error: built.redisUnavailable };
  }
  out(
    args,
    { system, redis },
    () => readingsText(system) + (redis === undefined ? '' : `\nredis: ${JSON.stringify(redis, null, 2)}\n`),
  );
  return EXIT.ok;
}

function testNumber(name: string): number | undefined {
  const raw = process.env[name];
  return raw && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

function warnReadOnly(built: SidecarEngine): void {
  const ro = built.sysctl?.access().readOnly;
  if (ro) process.stderr.write(`titan-perf-sidecar: warning: sysctls skipped: ${ro}; the other stores still run\n`);
}

function out<T>(args: CliArgs, value: T, text: (v: T) => string): void {
  process.stdout.write(args.json ? JSON.stringify(value, null, 2) + '\n' : text(value));
}

function jsonLog(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', ...event }) + '\n');
}

function fail(err: unknown): number {
  if (err instanceof ConfigError || (err instanceof TitanPerfError && INPUT_ERRORS.has(err.code))) {
    process.stderr.write(`titan-perf-sidecar: ${err.message}\n`);
    return EXIT.invalid;
  }
  const e = err as Error & { code?: string };
  process.stderr.write(`titan-perf-sidecar: ${e.message}${e.code ? ` [${e.code}]` : ''}\n`);
  return EXIT.failed;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The daemon has closed its server; one-shot commands have closed their stores. Nothing should linger,
    // but a stuck client must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`titan-perf-sidecar: ${(err as Error).stack ?? err}\n`);
    process.exit(EXIT.failed);
  },
);
