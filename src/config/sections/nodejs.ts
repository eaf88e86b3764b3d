/** The `nodejs` section: the preload's in-process tuning and watching. */
import type * as V from 'valibot';
import type { Profile } from '../types';

/** Derived from the schema, so a field is written once (plus its default); types only, valibot is not loaded. */
export type NodejsConfig = V.InferOutput<ReturnType<typeof nodejsSchema>>;
export type ConnectionPoolingConfig = NodejsConfig['connectionPooling'];
export type StallCaptureConfig = NodejsConfig['stallCapture'];

export const nodejsDefaults: NodejsConfig = {
  maxOldSpaceSize: 4096,
  maxEventLoopDelay: 10,
  maxEventLoopStall: 100,
  maxEventLoopUtilization: 0.9,
  maxHeapUsage: 0.75,
  incrementalMarking: true,
  sampleInterval: 5000,
  warningCooldown: 60000,
  tuneFetch: true,
  tuneHttpAgents: true,
  connectionPooling: {
    maxConnections: 50,
    timeout: 30000,
    keepAliveTimeout: 4000,
    keepAliveMaxTimeout: 600000,
    headersTimeout: 300000,
    bodyTimeout: 300000,
    maxFreeSockets: 256,
  },
  stallCapture: { enabled: false, threshold: 200, maxPerMinute: 6 },
};

export const nodejsProfiles: Record<
  Profile,
  Partial<Omit<NodejsConfig, 'connectionPooling' | 'stallCapture'>> & {
    connectionPooling?: Partial<ConnectionPoolingConfig>;
    stallCapture?: Partial<StallCaptureConfig>;
  }
> = {
  default: {},
  hft: {
    maxEventLoopDelay: 1,
    maxEventLoopStall: 20,
    sampleInterval: 1000,
    stallCapture: { enabled: true, threshold: 40 },
    connectionPooling: { maxConnections: 200, maxFreeSockets: 512, keepAliveTimeout: 30000 },
  },
};

export function nodejsSchema() {
  const { int, num, bool, section } = require('../rules') as typeof import('../rules');
  return section({
    /** Intended V8 old-space size, MiB; checked against the container, never applied after start. */
    maxOldSpaceSize: int(16, 1_048_576, 'MiB'),
    /** Event-loop delay p99 threshold, ms. */
    maxEventLoopDelay: num(0.1, 60_000, 'ms'),
    /** Longest acceptable single block of the event loop, ms: each stall at or above it is counted and warned. */
    maxEventLoopStall: num(1, 600_000, 'ms'),
    /** Event-loop utilization threshold per interval, 0..1. */
    maxEventLoopUtilization: num(0.01, 1),
    /**
     * Old generation used / its limit, 0..1. Below 0.8: from there V8 may abort
     * with "heap out of memory" after a few mark-compacts that free little.
     */
    maxHeapUsage: num(0.05, 1),
    /** Expect incremental marking on (a verdict is raised when `--no-incremental-marking` is set). */
    incrementalMarking: bool(),
    /** Interval between readings, ms. */
    sampleInterval: int(100, 3_600_000, 'ms'),
    /** Minimum time between two warnings for the same metric, ms. */
    warningCooldown: int(0, 86_400_000, 'ms'),
    /** Install a tuned undici Agent as fetch's global dispatcher. */
    tuneFetch: bool(),
    /** Tune http.globalAgent and https.globalAgent. */
    tuneHttpAgents: bool(),
    connectionPooling: section({
      /** Connections per origin for fetch (undici) and sockets per host for http/https agents. */
      maxConnections: int(1, 10_000),
      /** How long to wait for a connection, ms: undici connect timeout and database pool acquire timeout. */
      timeout: int(1, 3_600_000, 'ms'),
      /** Idle keep-alive time for a pooled socket when the server gives no hint, ms. */
      keepAliveTimeout: int(1, 3_600_000, 'ms'),
      /** Upper bound on a server's `Keep-Alive: timeout=` hint, ms. */
      keepAliveMaxTimeout: int(1, 86_400_000, 'ms'),
      /** Time to receive response headers, ms (0 = none). */
      headersTimeout: int(0, 86_400_000, 'ms'),
      /** Time between body chunks, ms (0 = none). */
      bodyTimeout: int(0, 86_400_000, 'ms'),
      /** Idle sockets kept per host by the http/https agents. */
      maxFreeSockets: int(0, 100_000),
    }),
    stallCapture: section({
      /** Take the main thread's JavaScript stack of a stall from a watchdog thread. */
      enabled: bool(),
      /** How long the main thread must not have turned before its stack is taken, ms. */
      threshold: int(10, 600_000, 'ms'),
      /** Stacks taken per minute at most; stalls past it are still counted and warned, without a stack. */
      maxPerMinute: int(1, 600),
    }),
  });
}
