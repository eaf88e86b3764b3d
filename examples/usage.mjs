// The basic usage: apply everything, read the metrics (importing from 'titan-perf').
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();
const result = await optimizer.applyAllOptimizations();

if (result.success) {
  console.log('Optimizations applied:', result.appliedOptimizations);
} else {
  console.error('Optimization errors:', result.errors);
}
