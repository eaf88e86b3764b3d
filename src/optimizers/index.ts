export { NodeJSOptimizer } from './nodejs-optimizer';
export { RedisOptimizer } from './redis-optimizer';
export type { RedisHealthCheck } from './redis-optimizer';
export { SystemOptimizer } from './system-optimizer';
export type { SystemOptimizerOptions, SystemMetrics } from './system-optimizer';
export type * from './types';
