export { NodeJSOptimizer } from './NodeJSOptimizer';
export { RedisOptimizer } from './RedisOptimizer';
export type { RedisHealthCheck } from './RedisOptimizer';
export { SystemOptimizer } from './SystemOptimizer';
export type { SystemOptimizerOptions, SystemMetrics } from './SystemOptimizer';
export type * from './types';
