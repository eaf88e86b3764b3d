// The variants of the cost comparisons: bare node, titan-perf's preload with
// metrics only and with OTLP export on, and the anchors a user would pick instead.
import { join } from 'node:path';
import { ANCHORS, FIXTURES, PRELOAD, anchorInstalled, cleanEnv, hasPreload } from './subject.mjs';

/**
 * @param {{ otlpEndpoint: string, titanExportDelayMs?: number }} o
 *   titanExportDelayMs: titan-perf's telemetry.exportDelay for the exporting
 *   variant (default: the config's own), so a run of a few seconds is measured with its exporter running;
 *   exportAtOnce adds a variant whose exporter starts at once, to show what the delay keeps off start-up
 * @returns {{ variants: {id, label, args: string[], env: object}[], skipped: string[] }}
 */
export function costVariants({ otlpEndpoint, titanExportDelayMs, exportAtOnce = false }) {
  const otlp = {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    // Short enough that a load run of a few seconds really exports (the default is 60 s).
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  };
  const variants = [{ id: 'bare', label: 'bare node', args: [], env: cleanEnv() }];
  const skipped = [];
  if (hasPreload()) {
    variants.push({
      id: 'titan',
      label: 'titan-perf, metrics only',
      args: ['--require', PRELOAD],
      env: cleanEnv({ OTEL_METRICS_EXPORTER: 'none' }),
    });
    const delay =
      titanExportDelayMs === undefined ? {} : { TITAN_PERF_TELEMETRY__EXPORT_DELAY: String(titanExportDelayMs) };
    variants.push({
      id: 'titan-otlp',
      label: 'titan-perf + OTLP export',
      args: ['--require', PRELOAD],
      env: cleanEnv({ ...otlp, ...delay }),
    });
    if (exportAtOnce) {
      variants.push({
        id: 'titan-otlp-now',
        label: 'titan-perf + OTLP, exportDelay 0',
        args: ['--require', PRELOAD],
        env: cleanEnv({ ...otlp, TITAN_PERF_TELEMETRY__EXPORT_DELAY: '0' }),
      });
    }
  } else {
    skipped.push(`titan-perf: not measured, ${PRELOAD} does not exist yet (the preload has not landed)`);
  }
  for (const [id, a] of Object.entries(ANCHORS)) {
    if (!anchorInstalled(id)) {
      skipped.push(
        `${a.label}: not measured, ${a.packages.join(', ')} not installed in bench/ (npm ci --prefix bench)`,
      );
      continue;
    }
    const env = id === 'otel-nodesdk' ? cleanEnv(otlp) : cleanEnv();
    if (id === 'dd-trace')
      Object.assign(env, {
        DD_TRACE_TELEMETRY_ENABLED: 'false',
        DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
        DD_REMOTE_CONFIGURATION_ENABLED: 'false',
      });
    variants.push({ id, label: a.label, args: ['--require', join(FIXTURES, a.file)], env });
  }
  return { variants, skipped };
}
