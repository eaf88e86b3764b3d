// High-frequency trading: switch to the hft profile and apply it.
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();
await optimizer.optimizeForHighFrequencyTrading();

// What the profile is now.
console.log(
  JSON.stringify({
    maxEventLoopDelay: optimizer.config.nodejs.maxEventLoopDelay,
    redis: optimizer.config.redis.appendFsync,
  }),
);
