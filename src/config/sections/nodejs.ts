/** The `nodejs` section: the preload's in-process tuning and watching. */
import type { Profile } from '../types';

export interface ConnectionPoolingConfig {
  /** Connections per origin for fetch (undici) and sockets per host for http/https agents. */
  maxConnections: number;
  /** How long to wait for a connection, ms: undici connect timeout and database pool acquire timeout. */
  timeout: number;
  /** Idle keep-alive time for a pooled socket when the server gives no hint, ms. */
  keepAliveTimeout: number;
  /** Upper bound on a server's `Keep-Alive: timeout=` hint, ms. */
  keepAliveMaxTimeout: number;
  /** Time to receive response headers, ms (0 = none). */
  headersTimeout: number;
  /** Time between body chunks, ms (0 = none). */
  bodyTimeout: number;
  /** Idle sockets kept per host by the http/https agents. */
  maxFreeSockets: number;
}

export interface StallCaptureConfig {
  /** Take the main thread's JavaScript stack of a stall from a watchdog thread. */
  enabled: boolean;
  /** How long the main thread must not have turned before its stack is taken, ms. */
  threshold: number;
  /** Stacks taken per minute at most; stalls past it are still counted and warned, without a stack. */
  maxPerMinute: number;
}

export interface NodejsConfig {
  /** Intended V8 old-space size, MiB; checked against the container, never applied after start. */
  maxOldSpaceSize: number;
  /** Event-loop delay p99 threshold, ms. */
  maxEventLoopDelay: number;
  /** Longest acceptable single block of the event loop, ms: each stall at or above it is counted and warned. */
  maxEventLoopStall: number;
  /** Event-loop utilization threshold per interval, 0..1. */
  maxEventLoopUtilization: number;
  /**
   * Old generation used / its limit, 0..1. Below 0.8: from there V8 may abort
   * with "heap out of memory" after a few mark-compacts that free little.
   */
  maxHeapUsage: number;
  /** Expect incremental marking on (a verdict is raised when `--no-incremental-marking` is set). */
  incrementalMarking: boolean;
  /** Interval between readings, ms. */
  sampleInterval: number;
  /** Minimum time between two warnings for the same metric, ms. */
  warningCooldown: number;
  /** Install a tuned undici Agent as fetch's global dispatcher. */
  tuneFetch: boolean;
  /** Tune http.globalAgent and https.globalAgent. */
  tuneHttpAgents: boolean;
  connectionPooling: ConnectionPoolingConfig;
  stallCapture: StallCaptureConfig;
}

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
    maxOldSpaceSize: int(16, 1_048_576, 'MiB'),
    maxEventLoopDelay: num(0.1, 60_000, 'ms'),
    maxEventLoopStall: num(1, 600_000, 'ms'),
    maxEventLoopUtilization: num(0.01, 1),
    maxHeapUsage: num(0.05, 1),
    incrementalMarking: bool(),
    sampleInterval: int(100, 3_600_000, 'ms'),
    warningCooldown: int(0, 86_400_000, 'ms'),
    tuneFetch: bool(),
    tuneHttpAgents: bool(),
    connectionPooling: section({
      maxConnections: int(1, 10_000),
      timeout: int(1, 3_600_000, 'ms'),
      keepAliveTimeout: int(1, 3_600_000, 'ms'),
      keepAliveMaxTimeout: int(1, 86_400_000, 'ms'),
      headersTimeout: int(0, 86_400_000, 'ms'),
      bodyTimeout: int(0, 86_400_000, 'ms'),
      maxFreeSockets: int(0, 100_000),
    }),
    stallCapture: section({
      enabled: bool(),
      threshold: int(10, 600_000, 'ms'),
      maxPerMinute: int(1, 600),
    }),
  });
}
