/**
 * Every name a program may import from 'titan-perf'. Anything not listed here
 * is internal and may change in any release; test/api/public-api.test.ts pins
 * this list so that a name is never added or dropped by accident, and
 * docs/api.md documents each one.
 */

// The library face: one orchestrator over three optimizers.
export { PerformanceOptimizer } from './performance-optimizer';
export type { PerformanceOptimizerOptions, PerformanceMetrics } from './performance-optimizer';
export { NodeJSOptimizer } from './optimizers/nodejs-optimizer';
export { RedisOptimizer } from './optimizers/redis-optimizer';
export type { RedisHealthCheck } from './optimizers/redis-optimizer';
export { SystemOptimizer } from './optimizers/system-optimizer';
export type { SystemOptimizerOptions, SystemMetrics } from './optimizers/system-optimizer';
export type { Area, AreaReport, OptimizationError, OptimizationResult, RollbackReport } from './optimizers/types';

// Database connection pools (need generic-pool, an optional peer dependency).
export { DatabaseConnectionPool } from './pools/database-connection-pool';
export type { DatabaseConnectionPoolOptions } from './pools/database-connection-pool';

// The runtime agent: the preload's (getAgent) or one the library starts.
export { RuntimeAgent } from './runtime/agent';
export type { RuntimeAgentOptions, AgentStatus, NodeRuntimeMetrics } from './runtime/agent';
export { getAgent } from './runtime/agent-slot';
export type { PerformanceRecovery } from './runtime/thresholds';
export type {
  Readings,
  EventLoopReading,
  GcKind,
  GcReading,
  HeapReading,
  HeapSpaceReading,
  PoolOriginReading,
  DbPoolReading,
  PerformanceWarning,
  Severity,
  Verdict,
} from './runtime/runtime-readings';

// Configuration: defaults, profiles, and the same validation the preload and the sidecar use.
export { DEFAULT_PERFORMANCE_CONFIG, PROFILE_OVERRIDES } from './config/defaults';
export { resolveConfig, validateConfig } from './config/load';
export type { ResolveOptions, ResolvedConfig } from './config/load';
export { PROFILES } from './config/types';
export type {
  TitanPerfConfig,
  DeepPartial,
  Profile,
  NodejsConfig,
  RedisConfig,
  SystemConfig,
  TelemetryConfig,
} from './config/types';
export type { ConnectionPoolingConfig } from './config/sections/nodejs';
export type { LogRotationConfig, KernelParamsConfig, DaemonConfig } from './config/sections/system';

// Score and recommendations.
export { scorePerformance, STATUS_BANDS } from './score/score';
export { RULES as SCORE_RULES } from './score/findings';
export type { Status, ScoreInput, FindingSeverity, Recommendation, ScoreResult } from './score/types';

// Errors: every failure carries a stable `code`.
export { TitanPerfError, ConfigError, ArgumentError } from './errors';
export type { ConfigIssue } from './errors';
export { RedisError } from './redis/redis-errors';
