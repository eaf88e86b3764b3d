/**
 * titan-perf's own MeterProvider and exporters, for when the app has no
 * OpenTelemetry pipeline to report through. Never registered as the global
 * MeterProvider: the app stays free to register its own, and titan-perf then
 * hands over to it. The SDK is required here and only here, after start-up.
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { PushMetricExporter, ResourceMetrics, IMetricReader } from '@opentelemetry/sdk-metrics';
import { MissingPackageError, requireOptional } from '../optional-package';
import type { ExportPlan } from './export-env';
import { selfTime } from '../runtime/self-time';
import { resourceAttributes } from './resource-attributes';

export interface OwnPipeline {
  provider: MeterProvider;
  /** Flushes what was collected, stops the exporters and frees the Prometheus port. */
  shutdown(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * Export failures are logged here, at most one line per export interval, and
 * reported to the reader as done: the SDK's own path would hand them to the
 * process-wide error handler, which belongs to the app.
 */
class QuietExporter implements PushMetricExporter {
  private lastLog = 0;
  private suppressed = 0;
  selectAggregationTemporality?: PushMetricExporter['selectAggregationTemporality'];
  selectAggregation?: PushMetricExporter['selectAggregation'];

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly label: string,
    private readonly intervalMs: number,
    private readonly log: Log,
  ) {
    if (inner.selectAggregationTemporality)
      this.selectAggregationTemporality = inner.selectAggregationTemporality.bind(inner);
    if (inner.selectAggregation) this.selectAggregation = inner.selectAggregation.bind(inner);
  }

  export(metrics: ResourceMetrics, done: (result: { code: number; error?: Error }) => void): void {
    try {
      // Serializing and sending is titan-perf's own time on the main thread, not the app's.
      selfTime().measure(() =>
        this.inner.export(metrics, (result) => {
          if (result.code !== 0) this.fail(result.error);
          done({ code: 0 });
        }),
      );
    } catch (err) {
      this.fail(err as Error);
      done({ code: 0 });
    }
  }

  private fail(err: Error | undefined): void {
    const now = Date.now();
    if (now - this.lastLog < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} more failures since the last message)` : '';
    this.suppressed = 0;
    this.lastLog = now;
    const reason = String(err?.message ?? err ?? 'unknown error')
      .split('\n')[0]
      .slice(0, 200);
    this.log(
      `titan-perf: metrics export to ${this.label} failed: ${reason}${more}; the app is not affected, retrying next interval`,
    );
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush().catch(() => undefined);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown().catch(() => undefined);
  }
}

function otlpExporter(plan: ExportPlan): PushMetricExporter {
  switch (plan.protocol) {
    case 'grpc': {
      const { OTLPMetricExporter } = requireOptional<typeof import('@opentelemetry/exporter-metrics-otlp-grpc')>(
        '@opentelemetry/exporter-metrics-otlp-grpc',
        'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc',
        () => require('@opentelemetry/exporter-metrics-otlp-grpc'),
      );
      return new OTLPMetricExporter();
    }
    case 'http/json': {
      const { OTLPMetricExporter } =
        require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
      return new OTLPMetricExporter();
    }
    default: {
      const { OTLPMetricExporter } =
        require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
      return new OTLPMetricExporter();
    }
  }
}

/** What each exporter loads, in dependency order, so each step compiles only its own files. */
function modulesFor(plan: ExportPlan): string[] {
  const mods = ['@opentelemetry/api', '@opentelemetry/core', '@opentelemetry/resources', '@opentelemetry/sdk-metrics'];
  for (const name of plan.exporters) {
    if (name === 'prometheus') mods.push('@opentelemetry/exporter-prometheus');
    if (name !== 'otlp') continue;
    mods.push(
      '@opentelemetry/otlp-exporter-base',
      '@opentelemetry/otlp-transformer',
      '@opentelemetry/exporter-metrics-otlp-http',
    );
    if (plan.protocol === 'http/protobuf') mods.push('@opentelemetry/exporter-metrics-otlp-proto');
    if (plan.protocol === 'grpc')
      mods.push('@grpc/grpc-js', '@opentelemetry/otlp-grpc-exporter-base', '@opentelemetry/exporter-metrics-otlp-grpc');
  }
  return mods;
}

/**
 * Loads the SDK one package per macrotask. Requiring it all at once stalls
 * the app's event loop for the sum (~100 ms for SDK + OTLP on an idle
 * machine); one package at a time, for the largest single package only.
 * Best effort: a package that is not where this file can resolve it (nested
 * deeper by the installer) is simply loaded later, all at once.
 */
export async function warmUpSdk(plan: ExportPlan, gapMs = 20): Promise<void> {
  for (const mod of modulesFor(plan)) {
    await new Promise<void>((resolve) => setTimeout(resolve, gapMs).unref());
    try {
      selfTime().measure(() => require(mod));
    } catch {
      // Resolved through its parent package when the pipeline is built.
    }
  }
  if (plan.exporters.includes('otlp') && plan.protocol !== 'grpc') {
    // The OTLP HTTP transport import()s node:http on its first export; in a CommonJS
    // app that first import() also starts the ESM loader. Do it now, in its own turn.
    await new Promise<void>((resolve) => setTimeout(resolve, gapMs).unref());
    // Starting the ESM loader is titan-perf's own time on the main thread, its microtasks included.
    const loading = selfTime().measureTurn(() => import('node:http'));
    await loading.catch(() => undefined);
  }
}

export function createOwnPipeline(
  plan: ExportPlan,
  log: Log,
  env: Record<string, string | undefined> = process.env,
): OwnPipeline {
  const sdk = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const readers: IMetricReader[] = [];
  const closers: (() => Promise<void>)[] = [];
  for (const name of plan.exporters) {
    try {
      readers.push(readerFor(name, plan, sdk, log, closers));
    } catch (err) {
      // An optional exporter that is not installed: say what to install, keep the other exporters.
      if (!(err instanceof MissingPackageError)) throw err;
      log(`titan-perf: ${err.message}; until then titan-perf exports nothing to ${name}`);
    }
  }
  const provider = new sdk.MeterProvider({ resource: resourceFromAttributes(resourceAttributes(env)), readers });
  return {
    provider,
    shutdown: async () => {
      await provider.shutdown().catch(() => undefined);
      await Promise.all(closers.map((close) => close()));
    },
  };
}

/**
 * The scrape endpoint, on a server of titan-perf's own rather than the
 * exporter's: the exporter's server is unref'd but the connections it
 * accepts are not, so a Prometheus holding a keep-alive connection kept the
 * app from exiting. Each scrape (collect, serialize) is titan-perf's own
 * time, with the promise continuations of its turn.
 */
function servePrometheus(
  exporter: import('@opentelemetry/exporter-prometheus').PrometheusExporter,
  { host, port }: ExportPlan['prometheus'],
  log: Log,
): () => Promise<void> {
  const { createServer } = require('node:http') as typeof import('node:http');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    selfTime().measureTurn(() => exporter.getMetricsRequestHandler(req, res));
  });
  server.unref();
  server.on('connection', (socket) => socket.unref());
  server.on('error', (err) =>
    log(
      `titan-perf: Prometheus endpoint ${host}:${port} could not start: ${String(err.message ?? err)}; set OTEL_EXPORTER_PROMETHEUS_PORT to a free port`,
    ),
  );
  server.listen(port, host);
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

function readerFor(
  name: string,
  plan: ExportPlan,
  sdk: typeof import('@opentelemetry/sdk-metrics'),
  log: Log,
  closers: (() => Promise<void>)[],
): IMetricReader {
  if (name === 'prometheus') {
    const { PrometheusExporter } = requireOptional<typeof import('@opentelemetry/exporter-prometheus')>(
      '@opentelemetry/exporter-prometheus',
      'OTEL_METRICS_EXPORTER=prometheus',
      () => require('@opentelemetry/exporter-prometheus'),
    );
    const exporter = new PrometheusExporter({ preventServerStart: true });
    closers.push(servePrometheus(exporter, plan.prometheus, log));
    return exporter;
  }
  const inner = name === 'console' ? new sdk.ConsoleMetricExporter() : otlpExporter(plan);
  const label = name === 'console' ? 'the console' : `${plan.endpoint} (${plan.protocol})`;
  const reader = new sdk.PeriodicExportingMetricReader({
    exporter: new QuietExporter(inner, label, plan.intervalMs, log),
    exportIntervalMillis: plan.intervalMs,
    exportTimeoutMillis: plan.timeoutMs,
  });
  // Each export collects, serializes and sends in promise continuations of the timer's turn.
  ownTurns(reader, '_runOnce');
  return reader;
}

/**
 * Counts the turn that `object[method]` runs in, its promise continuations
 * included, as titan-perf's own time. The method is an SDK internal: where a
 * later SDK renames it, nothing is wrapped and only the synchronous export
 * (QuietExporter) and the readings are counted.
 */
function ownTurns(object: object, method: string): void {
  const target = object as Record<string, unknown>;
  const original = target[method];
  if (typeof original !== 'function') return;
  target[method] = function (this: unknown, ...args: unknown[]) {
    return selfTime().measureTurn(() => original.apply(this, args));
  };
}
