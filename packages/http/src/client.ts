import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import pRetry from 'p-retry';
import { ApiError, type ApiName } from './errors.js';

export interface RetryPolicy {
  /** Retries of a transient error (5xx, timeout, reset), with exponential backoff and jitter. */
  transientRetries: number;
  /** First backoff; doubles each time, with jitter, capped at maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Retries after a 429, each waiting the time the API asked for (capped by maxRateLimitWaitMs). */
  rateLimitRetries: number;
  /** A 429 asking for longer than this is not waited out here: the error goes to the caller. */
  maxRateLimitWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  transientRetries: 3,
  minBackoffMs: 500,
  maxBackoffMs: 8_000,
  rateLimitRetries: 5,
  maxRateLimitWaitMs: 30_000,
};

export interface RequestHooks {
  /** Awaited before every request: a shared limiter (e.g. one per API across all workers) plugs in here. */
  throttle?: () => Promise<void>;
  /** Told about every 429, with the wait the API asked for: e.g. to pause that API for every worker. */
  onRateLimited?: (retryAfterMs: number, err: ApiError) => Promise<void> | void;
}

export interface RequestCounters {
  total: number;
  byRoute: Record<string, number>;
}

/** A keep-alive axios instance that never throws on status (the caller classifies). */
export function createAxios(baseURL: string, headers: Record<string, string>, timeoutMs = 30_000): AxiosInstance {
  return axios.create({
    baseURL,
    headers: { accept: 'application/json', ...headers },
    timeout: timeoutMs,
    validateStatus: () => true,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 16 }),
    maxRedirects: 0,
    transitional: { clarifyTimeoutError: true },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one request with the retry policy: transient errors retry with exponential backoff and
 * jitter (p-retry); a 429 waits as long as the API asked (when within the cap) and retries
 * without counting as a transient failure; everything else is thrown at once.
 */
export async function withRetry<T>(
  api: ApiName,
  policy: RetryPolicy,
  hooks: RequestHooks,
  attempt: () => Promise<T>,
): Promise<T> {
  let rateLimited = 0;
  const once = async (): Promise<T> => {
    for (;;) {
      await hooks.throttle?.();
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof ApiError && err.type === 'rate_limit') {
          const wait = err.retryAfterMs ?? 1_000;
          await hooks.onRateLimited?.(wait, err);
          if (rateLimited < policy.rateLimitRetries && wait <= policy.maxRateLimitWaitMs) {
            rateLimited += 1;
            await sleep(wait);
            continue;
          }
        }
        throw err;
      }
    }
  };
  return pRetry(once, {
    retries: policy.transientRetries,
    factor: 2,
    minTimeout: policy.minBackoffMs,
    maxTimeout: policy.maxBackoffMs,
    randomize: true,
    shouldRetry: ({ error }) => error instanceof ApiError && error.type === 'transient',
  }).catch((err: unknown) => {
    if (err instanceof ApiError) throw err;
    throw new ApiError({
      api,
      type: 'transient',
      message: `${api} request failed: ${(err as Error).message}`,
      cause: err,
    });
  });
}
