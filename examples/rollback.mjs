// Rollback: a new process restores what an earlier one
// applied, from the engine's journals (the file journal in dataDir for
// kernel settings, the journal kept in Redis for Redis settings).
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();

// Rollback all optimizations if needed
const report = await optimizer.rollbackOptimizations();

// What was put back.
console.log(JSON.stringify(report));
