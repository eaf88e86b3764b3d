// Database connections: a pool of any client with create and destroy. This one
// pools ioredis clients (install ioredis and generic-pool next to titan-perf)
// so it runs anywhere a Redis does; a Postgres or MySQL client pools the same way.
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
  // A dead connection is replaced instead of lent out.
  { validate: async (client) => client.status === 'ready' },
);

const connection = await dbPool.acquire();
// Use connection
console.log('PING ->', await connection.ping());
dbPool.release(connection);

console.log('pool:', JSON.stringify(dbPool.reading()));
await optimizer.close(); // drains the pool
