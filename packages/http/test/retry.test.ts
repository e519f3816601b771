import { describe, expect, it } from 'vitest';
import { ApiError, DEFAULT_RETRY, isNetworkError, withRetry, type RetryPolicy } from '../src/index.js';

const fast: RetryPolicy = {
  ...DEFAULT_RETRY,
  minBackoffMs: 1,
  maxBackoffMs: 5,
  transientRetries: 3,
  rateLimitRetries: 2,
  maxRateLimitWaitMs: 200,
};
const err = (type: ApiError['type'], extra: Partial<ConstructorParameters<typeof ApiError>[0]> = {}) =>
  new ApiError({ api: 'pipedrive', type, message: `${type} happened`, ...extra });

describe('withRetry', () => {
  it('retries transient errors with backoff, then gives the typed error up', async () => {
    let calls = 0;
    await expect(
      withRetry('pipedrive', fast, {}, async () => (calls++, Promise.reject(err('transient')))),
    ).rejects.toMatchObject({ type: 'transient' });
    expect(calls).toBe(4);
    let n = 0;
    expect(
      await withRetry('pipedrive', fast, {}, async () => (++n < 3 ? Promise.reject(err('transient')) : 'ok')),
    ).toBe('ok');
  });

  it('never retries auth, forbidden or bad data', async () => {
    for (const type of ['auth', 'forbidden', 'bad_data', 'not_found', 'conflict'] as const) {
      let calls = 0;
      await expect(
        withRetry('chatwoot', fast, {}, async () => (calls++, Promise.reject(err(type)))),
      ).rejects.toMatchObject({ type, retryable: false });
      expect(calls).toBe(1);
    }
  });

  it('waits out a 429 as long as asked (within the cap), tells the hook, and does not count it as a failure', async () => {
    const told: number[] = [];
    let n = 0;
    const started = Date.now();
    const result = await withRetry('pipedrive', fast, { onRateLimited: (ms) => void told.push(ms) }, async () =>
      ++n <= 2 ? Promise.reject(err('rate_limit', { retryAfterMs: 60 })) : 'done',
    );
    expect(result).toBe('done');
    expect(told).toEqual([60, 60]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('hands a 429 longer than the cap to the caller with its wait', async () => {
    await expect(
      withRetry('chatwoot', fast, {}, async () => Promise.reject(err('rate_limit', { retryAfterMs: 45_000 }))),
    ).rejects.toMatchObject({ type: 'rate_limit', retryAfterMs: 45_000 });
  });

  it('awaits the throttle hook before every attempt', async () => {
    let throttled = 0;
    let n = 0;
    await withRetry('pipedrive', fast, { throttle: async () => void throttled++ }, async () =>
      ++n < 2 ? Promise.reject(err('transient')) : 1,
    );
    expect(throttled).toBe(2);
  });

  it('turns an unexpected exception into a transient ApiError', async () => {
    await expect(
      withRetry('gchat', { ...fast, transientRetries: 0 }, {}, async () => Promise.reject(new Error('socket hang up'))),
    ).rejects.toBeInstanceOf(ApiError);
  });

  it('recognises network failures and serializes without secrets', () => {
    expect(isNetworkError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isNetworkError(new Error('x'))).toBe(false);
    const json = err('conflict', { status: 422, attributes: ['email'], path: '/api/v1/accounts/2/contacts' }).toJSON();
    expect(json).toMatchObject({ api: 'pipedrive', type: 'conflict', status: 422, attributes: ['email'] });
  });
});
