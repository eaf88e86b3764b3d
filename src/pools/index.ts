export { DatabaseConnectionPool, POOL_ERROR_CODES } from './DatabaseConnectionPool';
export type { DatabaseConnectionPoolOptions } from './DatabaseConnectionPool';
export { dbPoolReadings } from './registry';
