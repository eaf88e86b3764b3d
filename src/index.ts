export * from './config/index';
export * from './errors';
export * from './redis/index';
export * from './pools/index';
export * from './runtime/index';
export * from './engine/index';
export * from './system/index';
