import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';

/**
 * The simulator lives in memory, so every demo starts from nothing: its own database is dropped and
 * its queue prefix emptied. Only names that contain "demo" are accepted (checked at the edge too).
 */
export async function resetDemoState(s: {
  REDIS_URL: string;
  QUEUE_PREFIX: string;
  DATABASE_URL?: string;
  MYSQL_HOST?: string;
  MYSQL_PORT?: string;
  MYSQL_USER?: string;
  MYSQL_PASSWORD?: string;
  MYSQL_DATABASE?: string;
}): Promise<void> {
  const url = s.DATABASE_URL ? new URL(s.DATABASE_URL) : undefined;
  const database = url ? decodeURIComponent(url.pathname.slice(1)) : s.MYSQL_DATABASE!;
  if (!database.includes('demo') || !s.QUEUE_PREFIX.includes('demo'))
    throw new Error(`refusing to reset ${database} / ${s.QUEUE_PREFIX}: demo names must contain "demo"`);

  const conn = await mysql.createConnection(
    url
      ? {
          host: url.hostname,
          port: Number(url.port || 3306),
          user: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          connectTimeout: 5_000,
        }
      : {
          host: s.MYSQL_HOST,
          port: Number(s.MYSQL_PORT),
          user: s.MYSQL_USER,
          password: s.MYSQL_PASSWORD,
          connectTimeout: 5_000,
        },
  );
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await conn.end();
  }

  const redis = new Redis(s.REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${s.QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
