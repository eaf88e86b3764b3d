// Diagnostics: score, Redis health and system readings.
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();

// Get detailed metrics
const metrics = await optimizer.getPerformanceMetrics();

// Check Redis health
const redisHealth = await optimizer.redisOptimizer.performHealthCheck();

// Monitor system resources
const systemMetrics = await optimizer.systemOptimizer.getSystemMetrics();

// Print what came back.
console.log(
  JSON.stringify({
    score: metrics.overall.score,
    redisHealthy: redisHealth.healthy,
    redisVersion: redisHealth.health?.version,
    fileDescriptors: systemMetrics.fileDescriptors,
    sysctls: systemMetrics.sysctls.length,
  }),
);
