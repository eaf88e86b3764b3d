/**
 * `run`: apply once, then verify on an interval and repair (or report) drift,
 * run logrotate on its own interval, serve /healthz and /readyz, log JSON
 * lines, and stop gracefully on SIGTERM (optionally rolling back first).
 * Timers are chained setTimeouts, so a slow pass never overlaps the next.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonConfig } from '../src/config/sections/system';
import type { SidecarEngine } from '../src/wiring/create-engine';
import { startSidecarTelemetry } from '../src/telemetry/sidecar-telemetry';

export interface DaemonOptions {
  built: SidecarEngine;
  daemon: DaemonConfig;
  /** ms between logrotate runs. */
  rotateInterval: number;
  atomic: boolean;
  force: boolean;
  log: (event: Record<string, unknown>) => void;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { built, daemon, log } = opts;
  const state = { ready: false, lastPassAt: Date.now(), lastPassOk: false, reason: 'starting', stopping: false };
  const timers: NodeJS.Timeout[] = [];
  // Metrics per the standard OTEL_* variables; a no-op (nothing loaded) when no exporter is set.
  const metrics = startSidecarTelemetry({
    redisHealth: built.redis?.health ? () => built.redis!.health!() : undefined,
    log: (message) => log({ event: 'telemetry', level: 'warn', message }),
  });

  const server = await listen(daemon.host, daemon.port, (path) => {
    if (path === '/healthz') {
      // Alive while passes keep happening; a wedged loop fails the liveness probe.
      const stale = Date.now() - state.lastPassAt > 3 * daemon.verifyInterval + 60_000;
      return stale ? [503, { status: 'stale', lastPassAt: state.lastPassAt }] : [200, { status: 'ok', lastPassAt: state.lastPassAt }];
    }
    if (path === '/readyz') return state.ready ? [200, { status: 'ready' }] : [503, { status: 'not ready', reason: state.reason }];
    return [404, { error: 'not found' }];
  });
  const address = server.address() as AddressInfo;
  log({ event: 'listening', host: address.address, port: address.port });

  // A store that could not even plan (an unreachable Redis) keeps the pod not ready.
  const settle = (unavailable: { store: string; reason: string }[], failed: string[]) => {
    const down = unavailable.map((u) => `${u.store}: ${u.reason}`);
    state.lastPassOk = failed.length === 0 && down.length === 0;
    state.reason = [...(failed.length ? [`apply failed: ${failed.join(', ')}`] : []), ...down].join('; ');
  };

  const pass = async (first: boolean) => {
    try {
      const verify = first ? undefined : await built.engine.verify();
      if (verify && (verify.inSync || daemon.drift === 'report')) {
        log({ event: 'verify', inSync: verify.inSync, drift: verify.drift.map((d) => ({ store: d.store, key: d.key, current: d.current, desired: d.desired })) });
        settle(verify.unavailable, []);
        metrics.verified(verify);
      } else {
        const r = await built.engine.apply({ atomic: opts.atomic, force: opts.force });
        log({ event: first ? 'initial-apply' : 'repair', changed: r.changed.length, failed: r.failed, rolledBack: r.rolledBack.length });
        settle(r.unavailable, r.failed.map((f) => `${f.store} ${f.key}`));
        metrics.applied(r, !first);
      }
    } catch (err) {
      state.lastPassOk = false;
      state.reason = (err as Error).message;
      log({ event: 'pass-failed', level: 'error', error: (err as Error).message, code: (err as { code?: string }).code });
    }
    state.lastPassAt = Date.now();
    state.ready = state.lastPassOk;
    if (!state.stopping)
      timers[0] = setTimeout(() => {
        inflight = pass(false);
      }, daemon.verifyInterval);
  };

  const rotate = async () => {
    if (built.logrotate) {
      try {
        const r = await built.logrotate.rotate();
        if (r.rotated.length || r.created.length || r.removed.length || r.errors.length) log({ event: 'logrotate', ...r });
        metrics.logrotateRan(r.errors.length === 0);
      } catch (err) {
        metrics.logrotateRan(false);
        log({ event: 'logrotate-failed', level: 'error', error: (err as Error).message });
      }
    }
    if (!state.stopping) timers[1] = setTimeout(() => void rotate(), opts.rotateInterval);
  };

  // The pass under way, if any: stop() waits for it, so a rollback never runs beside an apply.
  let inflight: Promise<void> = pass(true);
  await inflight;
  await rotate();

  return new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (state.stopping) return;
      state.stopping = true;
      state.ready = false;
      for (const t of timers) clearTimeout(t);
      log({ event: 'stopping', signal });
      await inflight;
      let code = 0;
      if (daemon.rollbackOnExit) {
        try {
          const r = await built.engine.rollback();
          log({ event: 'rollback', restored: r.restored.length, failed: r.failed });
          metrics.rolledBack(r);
          if (!r.ok) code = 1;
        } catch (err) {
          metrics.rolledBack(undefined);
          log({ event: 'rollback-failed', level: 'error', error: (err as Error).message });
          code = 1;
        }
      }
      server.close();
      server.closeAllConnections();
      await metrics.shutdown().catch(() => {});
      await built.close().catch(() => {});
      log({ event: 'stopped', code });
      resolve(code);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

type Handler = (path: string) => [number, unknown];

function listen(host: string, port: number, handle: Handler): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const [status, body] = handle(new URL(req.url ?? '/', 'http://probe').pathname);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
