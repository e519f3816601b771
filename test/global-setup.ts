import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The production build (scripts/build.mjs), of whatever no longer matches its sources: the compose
 * services run apps/<app>/dist (test/compose.test.ts, test/build.test.ts), and `pnpm run worker`'s
 * command runs it when it is up to date. Takes a few seconds after a change, nothing otherwise.
 */
function buildIfStale(): void {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the production build failed (node scripts/build.mjs):\n${r.stderr}`);
}

/**
 * Runs once before every test file: fails fast, with a clear message, when Redis or the database
 * is not reachable, instead of letting every test time out on its own.
 */
export default async function setup(): Promise<void> {
  buildIfStale();
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
