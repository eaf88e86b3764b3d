// Usage in production. It keeps running (the interval
// checks every minute), as a service would.
import { PerformanceOptimizer, DEFAULT_PERFORMANCE_CONFIG } from 'titan-perf';

const optimizer = new PerformanceOptimizer(DEFAULT_PERFORMANCE_CONFIG);

// Apply all optimizations
const result = await optimizer.applyAllOptimizations();

if (result.success) {
  console.log('System optimized for production');

  // Monitor performance
  setInterval(async () => {
    const metrics = await optimizer.getPerformanceMetrics();
    if (metrics.overall.status !== 'optimal') {
      console.warn('Performance degraded:', metrics.overall.recommendations);
    }
  }, 60000); // Check every minute
}
