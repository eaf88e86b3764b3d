export { DEFAULT_PERFORMANCE_CONFIG, PROFILE_OVERRIDES, profileConfig } from './defaults';
export { resolveConfig, validateConfig, envOverrides, redact, RESERVED_ENV } from './load';
export type { ResolveOptions, ResolvedConfig } from './load';
export { deepMerge } from './merge';
export { parseSize } from './size';
export { PROFILES } from './types';
export type * from './types';
export type { ConnectionPoolingConfig } from './sections/nodejs';
export type { LogRotationConfig, KernelParamsConfig } from './sections/system';
