import type { Redis } from 'ioredis';
import type { ApiName, RequestHooks } from '@pcs/http';
import type { Logger } from '@pcs/logger';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A 429 from an API pauses that API's work for every worker of the deployment: the wait the API
 * asked for is stored in Redis, and every request to that API first waits it out.
 */
export function sharedPauseHooks(redis: Redis, prefix: string, api: ApiName, log?: Logger): RequestHooks {
  const key = `${prefix}:pause:${api}`;
  return {
    async throttle() {
      const ttl = await redis.pttl(key);
      if (ttl > 0) await sleep(ttl + Math.floor(Math.random() * 100));
    },
    async onRateLimited(retryAfterMs) {
      const ttl = await redis.pttl(key);
      if (retryAfterMs > ttl) {
        await redis.set(key, String(Date.now() + retryAfterMs), 'PX', Math.max(1, Math.round(retryAfterMs)));
        log?.warn({ api, retryAfterMs }, `${api} rate limit: pausing its requests for every worker`);
      }
    },
  };
}
