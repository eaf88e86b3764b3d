export { DatabaseConnectionPool, POOL_ERROR_CODES } from './database-connection-pool';
export type { DatabaseConnectionPoolOptions } from './database-connection-pool';
export { dbPoolReadings } from './registry';
