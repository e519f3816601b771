import { Redis, type RedisOptions } from 'ioredis';

export type ConnectionRole = 'worker' | 'producer';

/**
 * Redis connections on one shared configuration. Workers (blocking commands) need
 * `maxRetriesPerRequest: null`; producers (CLI, dashboard, HTTP intake) fail fast instead of
 * hanging when Redis is away, so a request gets an answer and the CLI its exit code 3.
 */
export function createRedis(url: string, role: ConnectionRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : {
          maxRetriesPerRequest: 1,
          connectTimeout: 5_000,
          enableOfflineQueue: true,
          retryStrategy: (times) => Math.min(times * 200, 2_000),
        };
  return new Redis(url, { ...base, ...extra });
}

/** Resolves when Redis answers PING, rejects after `timeoutMs`. */
export async function pingRedis(redis: Redis, timeoutMs = 3_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
