/** What the optimizers and PerformanceOptimizer answer. */

export type Area = 'nodejs' | 'redis' | 'system';

export interface OptimizationError {
  area: Area;
  /** Stable code (TitanPerfError.code, or an errno such as EACCES). */
  code: string;
  message: string;
  /** The setting concerned, when there is one (`net.core.somaxconn`, `maxmemory`). */
  key?: string;
}

/** One optimizer's part of a run. */
export interface AreaReport {
  area: Area;
  /** What was changed, one line each: `sysctl net.core.somaxconn: 4096 -> 65535`. */
  applied: string[];
  /** Not applied for a reason that is not a failure: missing privilege, scope, advisory Redis, durability trade-offs. */
  warnings: string[];
  errors: OptimizationError[];
}

export interface OptimizationResult {
  /** No optimizer reported an error (warnings do not count). */
  success: boolean;
  appliedOptimizations: string[];
  errors: OptimizationError[];
  warnings: string[];
  /** Each optimizer's part. */
  areas: AreaReport[];
}

export interface RollbackReport {
  success: boolean;
  /** What was put back, one line each. */
  restored: string[];
  errors: OptimizationError[];
  warnings: string[];
}
