/**
 * Where a stall with its stack goes besides the warning event: one JSON line
 * on stderr (what a log collector picks up without any setup), and a log
 * record through the app's OpenTelemetry LoggerProvider when it registered
 * one (the `logs` API of @opentelemetry/api 1.10+, or @opentelemetry/api-logs).
 * Without a provider the API is a no-op, so nothing is sent twice.
 */
import type { EventLoopStall } from './runtime-readings';

interface LogsApi {
  getLogger(name: string): { emit(record: Record<string, unknown>): void };
}

let logs: LogsApi | null | undefined;

function logsApi(): LogsApi | null {
  if (logs !== undefined) return logs;
  logs = null;
  for (const name of ['@opentelemetry/api', '@opentelemetry/api-logs']) {
    try {
      // The app's copy: its LoggerProvider is registered in that copy's global.
      const path = require.resolve(name, { paths: [process.cwd(), __dirname] });
      const api = require(path) as { logs?: LogsApi };
      if (api.logs && typeof api.logs.getLogger === 'function') {
        logs = api.logs;
        break;
      }
    } catch {
      // Not installed: stderr only.
    }
  }
  return logs;
}

export function reportStallStack(stall: EventLoopStall): void {
  const record = {
    titan_perf: 'event-loop-stall',
    durationMs: stall.durationMs,
    startedAt: new Date(stall.startedAt).toISOString(),
    threshold: stall.threshold,
    stack: stall.stack,
  };
  process.stderr.write(`${JSON.stringify(record)}\n`);
  const api = logsApi();
  if (!api) return;
  const top = stall.stack?.frames[0];
  api.getLogger('titan-perf').emit({
    severityNumber: 13,
    severityText: 'WARN',
    body: `event loop blocked for ${stall.durationMs} ms${top ? ` in ${top.function || '(anonymous)'} ${top.file}:${top.line}` : ''}`,
    timestamp: stall.startedAt,
    attributes: {
      'event.name': 'titan_perf.eventloop.stall',
      'titan_perf.stall.duration_ms': stall.durationMs,
      'titan_perf.stall.kind': stall.stack?.kind ?? 'none',
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
