// The seed's "High-Frequency Trading Optimizations" example.
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();
await optimizer.optimizeForHighFrequencyTrading();

// Not in the seed: what the profile is now.
console.log(JSON.stringify({ maxEventLoopDelay: optimizer.config.nodejs.maxEventLoopDelay, redis: optimizer.config.redis.appendFsync }));
