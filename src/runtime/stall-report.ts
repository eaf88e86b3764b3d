/**
 * Where a stall with its stack goes besides the warning event: one JSON line
 * on stderr (what a log collector picks up without any setup), and a log
 * record through the app's OpenTelemetry LoggerProvider when it registered
 * one (the `logs` API of @opentelemetry/api 1.10+, or @opentelemetry/api-logs).
 * Without a provider nothing is sent, so nothing is sent twice.
 */
import type { EventLoopStall } from './runtime-readings';

interface LoggerProvider {
  getLogger(name: string): { emit(record: Record<string, unknown>): void };
}

/** Where every copy of @opentelemetry/api 1.x keeps what was registered globally (`logs` from 1.10 on). */
const API_KEY = Symbol.for('opentelemetry.js.api.1');
/** Where @opentelemetry/api-logs (0.x) keeps its provider: a getter taking the compatibility version, 1. */
const API_LOGS_KEY = Symbol.for('io.opentelemetry.js.api.logs');

function isProvider(p: unknown): p is LoggerProvider {
  return typeof (p as LoggerProvider | undefined)?.getLogger === 'function';
}

/**
 * The provider the app registered, read from the API's global registry: the
 * same object whichever copy of the API registered it, so it is found
 * wherever titan-perf is installed (the zero-install bundle has no
 * node_modules), whatever the app's cwd, and in an app that bundled its own
 * OpenTelemetry. Read at each report: a provider registered after the first
 * stall is used for the next one. Nothing is loaded or registered.
 */
function appLoggerProvider(): LoggerProvider | undefined {
  const g = globalThis as Record<symbol, unknown>;
  const registered = (g[API_KEY] as { logs?: unknown } | undefined)?.logs;
  if (isProvider(registered)) return registered;
  const getter = g[API_LOGS_KEY];
  if (typeof getter === 'function') {
    const p = (getter as (version: number) => unknown)(1);
    if (isProvider(p)) return p;
  }
  return undefined;
}

export function reportStallStack(stall: EventLoopStall): void {
  const record = {
    titan_perf: 'event-loop-stall',
    durationMs: stall.durationMs,
    startedAt: new Date(stall.startedAt).toISOString(),
    threshold: stall.threshold,
    ...(stall.cpuWait && { cpuWait: stall.cpuWait }),
    stack: stall.stack,
  };
  process.stderr.write(`${JSON.stringify(record)}\n`);
  const provider = appLoggerProvider();
  if (!provider) return;
  const top = stall.stack?.frames[0];
  provider.getLogger('titan-perf').emit({
    severityNumber: 13,
    severityText: 'WARN',
    body: `event loop blocked for ${stall.durationMs} ms${top ? ` in ${top.function || '(anonymous)'} ${top.file}:${top.line}` : ''}`,
    timestamp: stall.startedAt,
    attributes: {
      'event.name': 'titan_perf.eventloop.stall',
      'titan_perf.stall.duration_ms': stall.durationMs,
      ...(stall.cpuWait && {
        'titan_perf.stall.cpu_wait.min_ms': stall.cpuWait.minMs,
        'titan_perf.stall.cpu_wait.max_ms': stall.cpuWait.maxMs,
      }),
      'titan_perf.stall.kind': stall.stack?.kind ?? 'none',
      ...(stall.stack?.note ? { 'titan_perf.stall.note': stall.stack.note } : {}),
      'code.stacktrace': (stall.stack?.frames ?? [])
        .map((f) => `    at ${f.function || '<anonymous>'} (${f.file}:${f.line}:${f.column})`)
        .join('\n'),
      ...(top
        ? {
            'code.function.name': top.function,
            'code.file.path': top.file,
            'code.line.number': top.line,
            'code.column.number': top.column,
          }
        : {}),
    },
  });
}
