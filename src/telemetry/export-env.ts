/**
 * titan-perf's own exporter follows the standard OpenTelemetry environment
 * variables. Unset OTEL_METRICS_EXPORTER means none: the preload then loads no
 * SDK at all unless the app has a MeterProvider of its own to report through.
 * A bad value turns titan-perf's export off with one warning naming the
 * variable (never its value when it may hold a secret): a typo must not
 * silently send metrics somewhere else.
 */

export type ExporterName = 'otlp' | 'prometheus' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

export interface ExportPlan {
  /** Empty: no exporter of titan-perf's own. */
  exporters: ExporterName[];
  protocol: OtlpProtocol;
  /** OTEL_METRIC_EXPORT_INTERVAL, ms. */
  intervalMs: number;
  /** OTEL_METRIC_EXPORT_TIMEOUT, ms, never above the interval. */
  timeoutMs: number;
  /** Where OTLP goes, for messages only (the exporter reads the endpoint variables itself). */
  endpoint: string;
  prometheus: { host: string; port: number };
}

export interface ExportEnvResult {
  plan: ExportPlan;
  /** One line per faulty variable. */
  warnings: string[];
}

const EXPORTERS = ['otlp', 'prometheus', 'console', 'none'] as const;
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

export function parseExportEnv(env: Env = process.env): ExportEnvResult {
  const warnings: string[] = [];
  const bad = (name: string, shown: string | undefined, expected: string) =>
    warnings.push(
      `${name}${shown === undefined ? '' : `=${JSON.stringify(shown)}`} is not valid (expected ${expected}); titan-perf's metrics export is off`,
    );

  let exporters: ExporterName[] = [];
  const rawExporters = value(env, 'OTEL_METRICS_EXPORTER');
  if (rawExporters) {
    const names = rawExporters
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
    const unknown = names.filter((n) => !(EXPORTERS as readonly string[]).includes(n));
    if (unknown.length > 0)
      bad('OTEL_METRICS_EXPORTER', rawExporters, `a comma-separated list of ${EXPORTERS.join(', ')}`);
    else if (!names.includes('none')) exporters = [...new Set(names)] as ExporterName[];
  }
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') exporters = [];

  const protoVar = value(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const rawProto = value(env, protoVar);
  let protocol: OtlpProtocol = 'http/protobuf';
  if (rawProto) {
    if ((PROTOCOLS as readonly string[]).includes(rawProto)) protocol = rawProto as OtlpProtocol;
    else if (exporters.includes('otlp')) bad(protoVar, rawProto, PROTOCOLS.join(', '));
  }

  const intervalMs = positiveInt(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, bad);
  const timeoutMs = Math.min(positiveInt(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000, bad), intervalMs);

  let endpoint = protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318/v1/metrics';
  if (exporters.includes('otlp')) {
    for (const name of ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      const raw = value(env, name);
      if (!raw) continue;
      if (!isHttpUrl(raw)) {
        // Endpoints may carry credentials: name the variable, not the value.
        bad(name, undefined, 'an http:// or https:// URL');
        break;
      }
      endpoint =
        name === 'OTEL_EXPORTER_OTLP_ENDPOINT' && protocol !== 'grpc' ? `${raw.replace(/\/$/, '')}/v1/metrics` : raw;
      break;
    }
    for (const name of ['OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS']) {
      const raw = value(env, name);
      if (raw && !validHeaders(raw)) bad(name, undefined, 'comma-separated key=value pairs');
    }
  }

  const host = value(env, 'OTEL_EXPORTER_PROMETHEUS_HOST') ?? '127.0.0.1';
  let port = 9464;
  const rawPort = value(env, 'OTEL_EXPORTER_PROMETHEUS_PORT');
  if (rawPort !== undefined) {
    const n = Number(rawPort);
    if (/^\d+$/.test(rawPort) && n >= 1 && n <= 65535) port = n;
    else if (exporters.includes('prometheus'))
      bad('OTEL_EXPORTER_PROMETHEUS_PORT', rawPort, 'a port number from 1 to 65535');
  }

  if (warnings.length > 0) exporters = [];
  return {
    plan: { exporters, protocol, intervalMs, timeoutMs, endpoint: redactUrl(endpoint), prometheus: { host, port } },
    warnings,
  };
}

function positiveInt(env: Env, name: string, fallback: number, bad: (n: string, v: string, e: string) => void): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (/^\d+$/.test(raw) && Number(raw) > 0 && Number(raw) <= 86_400_000) return Number(raw);
  bad(name, raw, 'a whole number of milliseconds from 1 to 86400000');
  return fallback;
}

function isHttpUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function validHeaders(raw: string): boolean {
  return raw.split(',').every((pair) => pair.trim() === '' || /^[^=\s]+\s*=.*$/.test(pair.trim()));
}

function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(unparsable)';
  }
}
