import { Redis, type RedisOptions } from 'ioredis';
import { AppError, tagError, withTimeout } from '@pcs/errors';

export type ConnectionRole = 'worker' | 'producer';

type SendCommand = Redis['sendCommand'];

/**
 * Every error a command of this connection rejects with carries the kind `redis` (see
 * @pcs/errors), whoever issued it (BullMQ, a lock, the rate-limit pause). The error itself (class,
 * message) is left as ioredis made it, since BullMQ looks at both.
 */
function typeRedisErrors(redis: Redis): Redis {
  const send = redis.sendCommand.bind(redis) as SendCommand;
  redis.sendCommand = ((command: Parameters<SendCommand>[0], stream?: Parameters<SendCommand>[1]) => {
    const reject = command.reject.bind(command);
    command.reject = (err: Error) => reject(tagError(err, 'redis', 'redis'));
    return send(command, stream);
  }) as SendCommand;
  return redis;
}

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
  return typeRedisErrors(new Redis(url, { ...base, ...extra }));
}

/** Resolves when Redis answers PING, rejects (kind `redis`) after `timeoutMs`. */
export async function pingRedis(redis: Redis, timeoutMs = 3_000): Promise<void> {
  await withTimeout(
    redis.ping(),
    timeoutMs,
    () => new AppError({ kind: 'redis', source: 'redis', message: `Redis did not answer within ${timeoutMs} ms` }),
  );
}
