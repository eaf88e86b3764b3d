/**
 * OTLP metrics receivers for tests, decoding with the official
 * opentelemetry-proto definitions (the .proto files shipped in
 * @opentelemetry/otlp-grpc-exporter-base 0.38, installed as
 * `otlp-official-protos`) through protobufjs / @grpc/proto-loader, never
 * with the exporter's own serializer.
 *
 * - HTTP: `POST /v1/metrics`, `application/x-protobuf` or `application/json`;
 *   `status` / `delayMs` make it a failing or slow collector.
 * - gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
export const PROTO_ROOT = join(require.resolve('otlp-official-protos/package.json'), '..', 'build', 'protos');
const SERVICE_PROTO = 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto';

let root: protobuf.Root | undefined;
function requestType(): protobuf.Type {
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
    root.loadSync(SERVICE_PROTO);
  }
  return root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
}

export interface ExportedPoint {
  attributes: Record<string, unknown>;
  /** asDouble / asInt for numbers; the histogram's count, sum and buckets for histograms. */
  value?: number;
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

export interface ExportedMetric {
  resource: Record<string, unknown>;
  scope: string;
  name: string;
  unit: string;
  description: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  monotonic?: boolean;
  points: ExportedPoint[];
}

export interface ReceivedExport {
  at: number;
  contentType: string;
  metrics: ExportedMetric[];
}

function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined;
  for (const k of ['stringValue', 'boolValue', 'intValue', 'doubleValue']) if (k in v) return v[k];
  return undefined;
}

function attrs(list: { key: string; value?: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

/** Flattens a decoded ExportMetricsServiceRequest (protobufjs toObject with camelCase names). */
// biome-ignore lint/suspicious/noExplicitAny: protobufjs decodes to untyped objects; the tests assert on their fields
export function flatten(req: Record<string, any>): ExportedMetric[] {
  const out: ExportedMetric[] = [];
  for (const rm of req.resourceMetrics ?? []) {
    const resource = attrs(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const type = (['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const).find((t) => m[t]);
        if (!type) continue;
        const body = m[type];
        out.push({
          resource,
          scope: sm.scope?.name ?? '',
          name: m.name,
          unit: m.unit ?? '',
          description: m.description ?? '',
          type,
          monotonic: body.isMonotonic,
          // biome-ignore lint/suspicious/noExplicitAny: protobufjs decodes to untyped objects; the tests assert on their fields
          points: (body.dataPoints ?? []).map((p: Record<string, any>) => ({
            attributes: attrs(p.attributes),
            value: p.asDouble ?? (p.asInt !== undefined ? Number(p.asInt) : undefined),
            count: p.count !== undefined ? Number(p.count) : undefined,
            sum: p.sum,
            bucketCounts: p.bucketCounts?.map(Number),
            explicitBounds: p.explicitBounds,
          })),
        });
      }
    }
  }
  return out;
}

const TO_OBJECT = { longs: String, enums: Number, defaults: false, arrays: true } as const;

export function decodeProtobuf(body: Buffer): ExportedMetric[] {
  const T = requestType();
  return flatten(T.toObject(T.decode(body), TO_OBJECT));
}

/** OTLP/JSON: lowerCamelCase field names, 64-bit integers as strings (proto3 JSON mapping). */
export function decodeJson(body: Buffer): ExportedMetric[] {
  const T = requestType();
  const json = JSON.parse(body.toString('utf8'));
  const err = T.verify(T.fromObject(json));
  if (err) throw new Error(`OTLP/JSON body does not match the proto: ${err}`);
  return flatten(T.toObject(T.fromObject(json), TO_OBJECT));
}

export interface Receiver {
  url: string;
  received: ReceivedExport[];
  /** Bodies that failed to decode (a test asserts this stays empty). */
  errors: string[];
  close(): Promise<void>;
}

export async function startOtlpHttpReceiver(opts: { status?: number; delayMs?: number } = {}): Promise<Receiver> {
  const received: ReceivedExport[] = [];
  const errors: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type'] ?? '');
      if (req.url === '/v1/metrics' && !opts.status) {
        try {
          const metrics = contentType.includes('json') ? decodeJson(body) : decodeProtobuf(body);
          received.push({ at: Date.now(), contentType, metrics });
        } catch (err) {
          errors.push(String((err as Error).message));
        }
      }
      const answer = () => {
        if (opts.status) {
          res.writeHead(opts.status, { 'content-type': 'text/plain' }).end('collector failing on purpose');
          return;
        }
        const json = contentType.includes('json');
        res
          .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
          .end(json ? '{}' : Buffer.alloc(0));
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    errors,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startOtlpGrpcReceiver(): Promise<Receiver> {
  const received: ReceivedExport[] = [];
  const errors: string[] = [];
  const def = protoLoader.loadSync(SERVICE_PROTO, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: Number,
    defaults: false,
    arrays: true,
    oneofs: false,
  });
  // biome-ignore lint/suspicious/noExplicitAny: a package definition loaded from .proto files at run time has no static type
  const pkg = grpc.loadPackageDefinition(def) as any;
  const service = pkg.opentelemetry.proto.collector.metrics.v1.MetricsService.service;
  const server = new grpc.Server();
  server.addService(service, {
    Export: (call: { request: Record<string, unknown> }, cb: (err: null, res: object) => void) => {
      try {
        received.push({ at: Date.now(), contentType: 'application/grpc', metrics: flatten(call.request) });
      } catch (err) {
        errors.push(String((err as Error).message));
      }
      cb(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    errors,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** Every metric of every export so far, newest last. */
export function allMetrics(r: Receiver): ExportedMetric[] {
  return r.received.flatMap((e) => e.metrics);
}

export function latest(r: Receiver, name: string): ExportedMetric | undefined {
  return allMetrics(r)
    .filter((m) => m.name === name)
    .at(-1);
}
