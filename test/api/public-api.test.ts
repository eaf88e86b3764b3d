/**
 * The names a program can import from 'titan-perf'. Users depend on whatever
 * is exported, so adding or dropping a name is a decision: change this list
 * and docs/api.md together with src/index.ts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';

const VALUES = [
  'ArgumentError',
  'ConfigError',
  'DEFAULT_PERFORMANCE_CONFIG',
  'DatabaseConnectionPool',
  'NodeJSOptimizer',
  'PROFILES',
  'PROFILE_OVERRIDES',
  'PerformanceOptimizer',
  'RedisError',
  'RedisOptimizer',
  'RuntimeAgent',
  'SCORE_RULES',
  'STATUS_BANDS',
  'SystemOptimizer',
  'TitanPerfError',
  'getAgent',
  'resolveConfig',
  'scorePerformance',
  'validateConfig',
];

const TYPES = [
  'AgentStatus',
  'Area',
  'AreaReport',
  'ConfigIssue',
  'ConnectionPoolingConfig',
  'DaemonConfig',
  'DatabaseConnectionPoolOptions',
  'DbPoolReading',
  'DeepPartial',
  'EventLoopReading',
  'FindingSeverity',
  'GcKind',
  'GcReading',
  'HeapReading',
  'HeapSpaceReading',
  'KernelParamsConfig',
  'LogRotationConfig',
  'NodeRuntimeMetrics',
  'NodejsConfig',
  'OptimizationError',
  'OptimizationResult',
  'PerformanceMetrics',
  'PerformanceOptimizerOptions',
  'PerformanceRecovery',
  'PerformanceWarning',
  'PoolOriginReading',
  'Profile',
  'Readings',
  'Recommendation',
  'RedisConfig',
  'RedisHealthCheck',
  'ResolveOptions',
  'ResolvedConfig',
  'RollbackReport',
  'RuntimeAgentOptions',
  'ScoreInput',
  'ScoreResult',
  'Severity',
  'Status',
  'SystemConfig',
  'SystemMetrics',
  'SystemOptimizerOptions',
  'TelemetryConfig',
  'TitanPerfConfig',
  'Verdict',
];

describe('the public API', () => {
  it('exports exactly the listed values, through the package name', () => {
    // The package resolves itself by name (package.json "exports"), as a user's require does.
    const lib = createRequire(join(ROOT, 'package.json'))('titan-perf') as Record<string, unknown>;
    expect(Object.keys(lib).sort()).toEqual([...VALUES].sort());
    for (const name of VALUES) expect(lib[name], name).toBeDefined();
  });

  it('exports exactly the listed types', () => {
    const dts = readFileSync(join(ROOT, 'dist', 'src', 'index.d.ts'), 'utf8');
    const typeNames = [...dts.matchAll(/export type \{([^}]*)\}/g)]
      .flatMap((m) => m[1].split(','))
      .map(
        (s) =>
          s
            .trim()
            .split(/\s+as\s+/)
            .pop() as string,
      )
      .filter(Boolean);
    expect(typeNames.sort()).toEqual([...TYPES].sort());
  });

  it('every exported name is documented in docs/api.md', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    for (const name of [...VALUES, ...TYPES]) expect(doc, name).toContain(`\`${name}`);
  });
});
