// The seed's "Database Connections" example. The seed pools a PostgresClient;
// this one pools the Redis client titan-perf already depends on (ioredis), so
// it runs anywhere a Redis does. The pool's shape is the seed's.
import { Redis } from 'ioredis';
import { PerformanceOptimizer } from 'titan-perf';

const optimizer = new PerformanceOptimizer();

const dbPool = optimizer.createDatabaseConnectionPool(
  'redis',
  async () => {
    const client = new Redis({ lazyConnect: true, retryStrategy: () => null });
    await client.connect();
    return client;
  },
  async (client) => client.quit(),
  // Not in the seed: a dead connection is replaced instead of lent out.
  { validate: async (client) => client.status === 'ready' },
);

const connection = await dbPool.acquire();
// Use connection
console.log('PING ->', await connection.ping());
dbPool.release(connection);

console.log('pool:', JSON.stringify(dbPool.reading()));
await optimizer.close(); // drains the pool
