/**
 * What the score reads and what it answers. The input is plain data (the
 * preload's Readings, Redis health, sidecar drift) so the score stays a pure
 * function that tests and every face of titan-perf can call the same way.
 */
import type { NodejsConfig, RedisConfig } from '../config/types';
import type { PlanEntry } from '../engine/types';
import type { RedisHealth } from '../redis/health';
import type { Readings, Verdict } from '../runtime/runtime-readings';

export type Status = 'optimal' | 'good' | 'warning' | 'critical';

export interface ScoreInput {
  /** Thresholds come from the config the readings were taken under. */
  nodejs: Pick<
    NodejsConfig,
    'maxEventLoopDelay' | 'maxEventLoopUtilization' | 'maxHeapUsage' | 'warningCooldown' | 'connectionPooling'
  > &
    /** Its default (100 ms) when left out. */
    Partial<Pick<NodejsConfig, 'maxEventLoopStall'>>;
  redisConfig?: Pick<RedisConfig, 'maxMemory' | 'latencyMonitorThreshold'>;
  readings?: Readings;
  /** Heap/GC verdicts of the runtime agent. */
  verdicts?: Verdict[];
  /** Redis health, or why it could not be read (server down, CONFIG blocked...). */
  redis?: RedisHealth | { error: string };
  /** Sidecar verify: settings whose current value no longer satisfies the desired one. */
  drift?: PlanEntry[];
}

export type FindingSeverity = 'info' | 'warning' | 'critical';

/**
 * One reading out of bounds and what to change about it. `message` says it
 * all in one line for logs; the other fields let code act on it.
 */
export interface Recommendation {
  /** Stable id, e.g. `nodejs.eventloop.delay`. */
  id: string;
  area: 'nodejs' | 'pools' | 'redis' | 'system';
  severity: FindingSeverity;
  /** The reading, e.g. `event-loop delay p99 (ms)`. */
  reading: string;
  value: number | string;
  threshold: number | string;
  /** The concrete change: a config key, a NODE_OPTIONS flag, a sysctl, a Redis parameter. */
  change: string;
  /** Points this finding takes off the score. */
  penalty: number;
  message: string;
}

export interface ScoreResult {
  /** 0-100. */
  score: number;
  status: Status;
  /** Worst first. */
  recommendations: Recommendation[];
}
