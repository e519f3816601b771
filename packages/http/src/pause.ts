import { withTimeout } from '@pcs/errors';
import type { ApiName } from './errors.js';
import type { RequestHooks } from './client.js';

/** Where the shared pause of an API is kept (Redis, for every worker of the deployment). */
export interface PauseStore {
  /** Milliseconds left on the key, or ≤ 0 when it is absent. */
  pttl(key: string): Promise<number>;
  /** Sets the key for `ms` milliseconds. */
  setPx(key: string, value: string, ms: number): Promise<unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long asking the store may take before the request goes on without it. */
const STORE_TIMEOUT_MS = 500;

/**
 * A 429 from an API pauses that API's work for every worker of the deployment: the wait the API
 * asked for is stored (Redis), and every request to that API first waits it out. The store being
 * away never fails a request: the pause then holds in this process only (what this worker saw),
 * and the store is asked again after a local backoff (1 s doubling to 30 s) instead of on every
 * request.
 */
export function sharedPauseHooks(
  store: PauseStore,
  key: string,
  api: ApiName,
  log?: { warn(obj: object, msg: string): void },
): RequestHooks {
  let localUntil = 0;
  let storeAwayUntil = 0;
  let storeFailures = 0;
  const storeDown = (err: unknown) => {
    storeFailures += 1;
    storeAwayUntil = Date.now() + Math.min(30_000, 1_000 * 2 ** (storeFailures - 1));
    if (storeFailures === 1)
      log?.warn({ api, err }, `${api} pause store unreachable: pausing this worker only until it answers`);
  };
  const ask = async <T>(op: () => Promise<T>): Promise<T | undefined> => {
    if (Date.now() < storeAwayUntil) return undefined;
    try {
      const v = await withTimeout(
        op(),
        STORE_TIMEOUT_MS,
        () => new Error(`pause store did not answer within ${STORE_TIMEOUT_MS} ms`),
      );
      storeFailures = 0;
      return v;
    } catch (err) {
      storeDown(err);
      return undefined;
    }
  };
  return {
    async throttle() {
      const shared = (await ask(() => store.pttl(key))) ?? 0;
      const wait = Math.max(shared, localUntil - Date.now());
      if (wait > 0) await sleep(wait + Math.floor(Math.random() * 100));
    },
    async onRateLimited(retryAfterMs) {
      localUntil = Math.max(localUntil, Date.now() + retryAfterMs);
      const ttl = await ask(() => store.pttl(key));
      if (ttl !== undefined && retryAfterMs > ttl) {
        const ms = Math.max(1, Math.round(retryAfterMs));
        await ask(() => store.setPx(key, String(Date.now() + retryAfterMs), ms));
        log?.warn({ api, retryAfterMs }, `${api} rate limit: pausing its requests for every worker`);
      }
    },
  };
}
