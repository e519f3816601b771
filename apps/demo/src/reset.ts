import mysql from 'mysql2/promise';
import { databaseTlsOptions, parseConfig, parseRedisConfig } from '@pcs/config';
import { createRedis, scanKeys } from '@pcs/queues';

const DATABASE_VARIABLES = [
  'DATABASE_URL',
  'MYSQL_HOST',
  'MYSQL_PORT',
  'MYSQL_USER',
  'MYSQL_PASSWORD',
  'MYSQL_DATABASE',
  'MYSQL_SSL',
  'MYSQL_SSL_CA',
] as const;

/**
 * The simulator lives in memory, so every demo starts from nothing: its own database is dropped and
 * its queue prefix emptied. Only names that contain "demo" are accepted (checked at the edge too).
 */
export async function resetDemoState(s: {
  REDIS_URL: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_CLUSTER_NODES?: string;
  REDIS_TLS_CA?: string;
  QUEUE_PREFIX: string;
  DATABASE_URL?: string;
  MYSQL_HOST?: string;
  MYSQL_PORT?: string;
  MYSQL_USER?: string;
  MYSQL_PASSWORD?: string;
  MYSQL_DATABASE?: string;
  MYSQL_SSL?: string;
  MYSQL_SSL_CA?: string;
}): Promise<void> {
  // The database settings exactly as the demo's worker and CLI read them, TLS (MYSQL_SSL, MYSQL_SSL_CA)
  // included; only those (`--clean` passes the settings of a simulator that never started).
  const db = parseConfig(Object.fromEntries(DATABASE_VARIABLES.map((k) => [k, s[k]]))).database;
  const database = db.database;
  if (!database.includes('demo') || !s.QUEUE_PREFIX.includes('demo'))
    throw new Error(`refusing to reset ${database} / ${s.QUEUE_PREFIX}: demo names must contain "demo"`);

  const conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    ssl: databaseTlsOptions(db),
    connectTimeout: 5_000,
  });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await conn.end();
  }

  // The prefix as the worker writes it: `{prefix}` on a Redis Cluster.
  const target = parseRedisConfig(s);
  const redis = createRedis(target, 'producer', { lazyConnect: true, connectTimeout: 3_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    for await (const keys of scanKeys(redis, `${target.prefix}:*`, 1000)) await redis.unlink(...keys);
  } finally {
    redis.disconnect();
  }
}
