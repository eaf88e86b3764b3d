// Performance metrics and event monitoring.
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();

optimizer.on('optimization-completed', (_result) => {
  console.log('Optimizations applied successfully');
});

optimizer.on('performance-warning', (warning) => {
  console.log('Performance threshold exceeded:', warning);
});

optimizer.on('nodejs-optimized', () => {
  console.log('Node.js optimizations applied');
});

await optimizer.applyAllOptimizations();

const metrics = await optimizer.getPerformanceMetrics();

console.log('Overall Score:', metrics.overall.score); // 0-100
console.log('Status:', metrics.overall.status); // optimal/good/warning/critical
console.log('Recommendations:', metrics.overall.recommendations);
