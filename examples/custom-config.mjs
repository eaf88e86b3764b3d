// Custom configuration: a partial config, deep-merged over the defaults.
import { PerformanceOptimizer } from 'titan-perf';

const customOptimizer = new PerformanceOptimizer({
  nodejs: {
    maxOldSpaceSize: 8192, // 8GB for larger workloads
    maxEventLoopDelay: 5, // Stricter latency requirements
  },
  redis: {
    maxMemory: '4gb', // More Redis memory
    appendFsync: 'no', // Faster but less durable
  },
  dataDir: '/custom/data',
});

// Show what the merge produced (the untouched keys keep their defaults).
console.log(JSON.stringify(customOptimizer.config));
