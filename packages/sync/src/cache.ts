import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '@pcs/logger';

/**
 * A value kept in Redis for a while (the resolved Chatwoot attribute definitions, a run's legacy
 * lookup). Redis being away only costs the computation again: a read or write that fails is a
 * cache miss, never a failed record.
 */
export async function cached<T>(
  redis: Redis | Cluster,
  key: string,
  ttlSeconds: number | ((value: T) => number | undefined),
  compute: () => Promise<T>,
  log?: Pick<Logger, 'debug'>,
): Promise<T> {
  try {
    const raw = await redis.get(key);
    if (raw !== null) return JSON.parse(raw) as T;
  } catch (err) {
    log?.debug({ err, key }, 'cache read failed: computing the value');
  }
  const value = await compute();
  const ttl = typeof ttlSeconds === 'function' ? ttlSeconds(value) : ttlSeconds;
  try {
    if (ttl === undefined) await redis.set(key, JSON.stringify(value));
    else await redis.set(key, JSON.stringify(value), 'EX', ttl);
  } catch (err) {
    log?.debug({ err, key }, 'cache write failed');
  }
  return value;
}
