import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';

/**
 * Runs once before every test file: fails fast, with a clear message, when Redis or the database
 * is not reachable, instead of letting every test time out on its own.
 */
export default async function setup(): Promise<void> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`tests need Redis at ${redisUrl}: ${(err as Error).message}`, { cause: err });
  } finally {
    redis.disconnect();
  }
  const host = process.env.MYSQL_HOST ?? '127.0.0.1';
  const port = Number(process.env.MYSQL_PORT ?? 3306);
  try {
    const conn = await createConnection({
      host,
      port,
      user: process.env.MYSQL_USER ?? 'root',
      password: process.env.MYSQL_PASSWORD ?? '',
    });
    await conn.end();
  } catch (err) {
    throw new Error(`tests need MySQL/MariaDB at ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
}
