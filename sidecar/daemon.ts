/**
 * `run`: apply once, then verify on an interval and repair (or report) drift,
 * run logrotate on its own interval, serve /healthz and /readyz, log JSON
 * lines, and stop gracefully on SIGTERM/SIGINT or an uncaught fault
 * (optionally rolling back first).
 * Timers are chained setTimeouts, so a slow pass never overlaps the next.
 *
 * The signal and fault handlers are installed before anything else: a
 * SIGTERM during the first pass is honoured (as PID 1 in a container a signal
 * without a handler is dropped by the kernel), and a stop never waits longer
 * than `shutdownGrace` for the pass under way before interrupting it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonConfig } from '../src/config/sections/system';
import type { SidecarEngine } from '../src/wiring/create-engine';
import { startSidecarTelemetry } from '../src/telemetry/sidecar-telemetry';
import { TEST_ENV_PREFIX } from '../src/config/env-names';
import { startProbeServer } from './probe-server';

export interface DaemonOptions {
  built: SidecarEngine;
  daemon: DaemonConfig;
  /** ms between logrotate runs. */
  rotateInterval: number;
  atomic: boolean;
  force: boolean;
  log: (event: Record<string, unknown>) => void;
}

/** Longest reason shown by /readyz and kept in state: a probe reply stays small. */
const MAX_REASON = 1000;
/** Test-only: throw an uncaught error right after the first pass (crash-safety tests). */
const FAULT_ENV = `${TEST_ENV_PREFIX}FAULT_AFTER_FIRST_PASS`;

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { built, daemon, log } = opts;
  const state = { ready: false, lastPassAt: Date.now(), lastPassOk: false, reason: 'starting', stopping: false };
  const timers: NodeJS.Timeout[] = [];
  const abort = new AbortController();
  let server: Server | undefined;
  // The pass under way, if any: stop() waits for it (bounded), so a rollback never runs beside an apply.
  let inflight: Promise<void> = Promise.resolve();
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const stop = async (why: string, code: number) => {
    if (state.stopping) return;
    state.stopping = true;
    state.ready = false;
    for (const t of timers) clearTimeout(t);
    log({ event: 'stopping', signal: why });
    // Last resort: whatever is stuck below (an exporter, a dependency without a deadline), the process ends.
    const hardStop = setTimeout(
      () => {
        log({
          event: 'stop-timeout',
          level: 'error',
          message: 'shutdown did not finish in time; exiting without waiting further',
        });
        process.exit(1);
      },
      3 * daemon.shutdownGrace + 60_000,
    );
    hardStop.unref();
    if (!(await settledWithin(inflight, daemon.shutdownGrace))) {
      // Interrupt: the apply stops before its next write and undoes this run's writes (atomic mode).
      log({ event: 'pass-interrupted', level: 'warn', graceMs: daemon.shutdownGrace });
      abort.abort(new Error(`the daemon is stopping (${why})`));
      if (!(await settledWithin(inflight, daemon.shutdownGrace)))
        log({
          event: 'pass-abandoned',
          level: 'error',
          message: 'the pass did not stop; rolling back what can be reached',
        });
    }
    if (daemon.rollbackOnExit) {
      try {
        // Bounded like the rest of the stop: a rollback that cannot get the state lock within the grace gives up.
        const graceOver = new AbortController();
        const t = setTimeout(
          () => graceOver.abort(new Error(`the shutdown grace of ${daemon.shutdownGrace} ms ran out`)),
          daemon.shutdownGrace,
        );
        const r = await built.engine.rollback({ signal: graceOver.signal }).finally(() => clearTimeout(t));
        log({ event: 'rollback', restored: r.restored.length, failed: r.failed });
        metrics.rolledBack(r);
        if (!r.ok) code = 1;
      } catch (err) {
        metrics.rolledBack(undefined);
        log({
          event: 'rollback-failed',
          level: 'error',
          error: (err as Error).message,
          code: (err as { code?: string }).code,
        });
        code = 1;
      }
    }
    server?.close();
    server?.closeAllConnections();
    await settledWithin(
      metrics.shutdown().catch(() => {}),
      daemon.shutdownGrace,
    );
    await settledWithin(
      built.close().catch(() => {}),
      daemon.shutdownGrace,
    );
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    log({ event: 'stopped', code });
    clearTimeout(hardStop);
    finish(code);
  };
  const onTerm = () => void stop('SIGTERM', 0);
  const onInt = () => void stop('SIGINT', 0);
  const onFault = (err: unknown) => {
    log({ event: 'fault', level: 'error', error: (err as Error)?.stack ?? String(err) });
    // A fault during the stop itself is logged; the stop under way goes on.
    void stop('fault', 1);
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('uncaughtException', onFault);
  process.on('unhandledRejection', onFault);

  // Metrics per the standard OTEL_* variables; a no-op (nothing loaded) when no exporter is set.
  const metrics = startSidecarTelemetry({
    redisHealth: built.redis?.health ? () => built.redis!.health!() : undefined,
    log: (message) => log({ event: 'telemetry', level: 'warn', message }),
  });

  try {
    server = await startProbeServer(
      daemon.host,
      daemon.port,
      (path) => {
        if (path === '/healthz') {
          // Alive while passes keep happening; a wedged loop fails the liveness probe.
          const stale = Date.now() - state.lastPassAt > 3 * daemon.verifyInterval + 60_000;
          return stale
            ? [503, { status: 'stale', lastPassAt: state.lastPassAt }]
            : [200, { status: 'ok', lastPassAt: state.lastPassAt }];
        }
        if (path === '/readyz')
          return state.ready ? [200, { status: 'ready' }] : [503, { status: 'not ready', reason: state.reason }];
        return [404, { error: 'not found' }];
      },
      (message) => log({ event: 'probe-error', level: 'warn', message }),
    );
  } catch (err) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('uncaughtException', onFault);
    process.off('unhandledRejection', onFault);
    await metrics.shutdown().catch(() => {});
    throw err;
  }
  const address = server.address() as AddressInfo;
  log({ event: 'listening', host: address.address, port: address.port });

  // A store that could not even plan (an unreachable Redis) keeps the pod not ready.
  const settle = (unavailable: { store: string; reason: string }[], failed: string[]) => {
    const down = unavailable.map((u) => `${u.store}: ${u.reason}`);
    state.lastPassOk = failed.length === 0 && down.length === 0;
    state.reason = [...(failed.length ? [`apply failed: ${failed.join(', ')}`] : []), ...down]
      .join('; ')
      .slice(0, MAX_REASON);
  };

  const pass = async (first: boolean) => {
    try {
      const verify = first ? undefined : await built.engine.verify();
      if (verify && (verify.inSync || daemon.drift === 'report')) {
        log({
          event: 'verify',
          inSync: verify.inSync,
          drift: verify.drift.map((d) => ({ store: d.store, key: d.key, current: d.current, desired: d.desired })),
        });
        settle(verify.unavailable, []);
        metrics.verified(verify);
      } else if (!state.stopping) {
        const r = await built.engine.apply({ atomic: opts.atomic, force: opts.force, signal: abort.signal });
        log({
          event: first ? 'initial-apply' : 'repair',
          changed: r.changed.length,
          failed: r.failed,
          rolledBack: r.rolledBack.length,
        });
        settle(
          r.unavailable,
          r.failed.map((f) => `${f.store} ${f.key}`),
        );
        metrics.applied(r, !first);
      }
    } catch (err) {
      state.lastPassOk = false;
      state.reason = String((err as Error).message).slice(0, MAX_REASON);
      log({
        event: 'pass-failed',
        level: 'error',
        error: (err as Error).message,
        code: (err as { code?: string }).code,
      });
    }
    state.lastPassAt = Date.now();
    state.ready = state.lastPassOk && !state.stopping;
    if (!state.stopping)
      timers[0] = setTimeout(() => {
        inflight = pass(false);
      }, daemon.verifyInterval);
  };

  const rotate = async () => {
    if (built.logrotate) {
      try {
        const r = await built.logrotate.rotate();
        if (r.rotated.length || r.created.length || r.removed.length || r.errors.length)
          log({ event: 'logrotate', ...r });
        metrics.logrotateRan(r.errors.length === 0);
      } catch (err) {
        metrics.logrotateRan(false);
        log({ event: 'logrotate-failed', level: 'error', error: (err as Error).message });
      }
    }
    if (!state.stopping) timers[1] = setTimeout(() => void rotate(), opts.rotateInterval);
  };

  inflight = pass(true);
  await inflight;
  if (process.env[FAULT_ENV] === '1')
    setImmediate(() => {
      throw new Error('test fault after the first pass (TITAN_PERF_TEST_FAULT_AFTER_FIRST_PASS)');
    });
  if (!state.stopping) await rotate();
  return finished;
}

/** Whether `p` settled within `ms` (it keeps running either way). */
function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
