import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosError, type AxiosInstance } from 'axios';
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

/**
 * Told about every answer of an API (its HTTP status) or a request that got none (`'error'`:
 * refused, reset, timed out, over a size limit). Called synchronously on the request's path: it
 * must be cheap and must not throw (a throw is swallowed).
 */
export type ApiResponseSink = (api: ApiName, status: number | 'error') => void;

let responseSink: ApiResponseSink | undefined;

/**
 * Sets (or clears) the process-wide sink of every answer of the instances of `createAxios` with an
 * `api`, and of Google Chat (@pcs/notify): one place every request of the process passes. The
 * worker counts them for `pcs_api_requests_total` (docs/contract.md §4). Returns the sink it replaced.
 */
export function setApiResponseSink(sink: ApiResponseSink | undefined): ApiResponseSink | undefined {
  const previous = responseSink;
  responseSink = sink;
  return previous;
}

/** Tells the sink about one answer; never throws. */
export function reportApiResponse(api: ApiName, status: number | 'error'): void {
  try {
    responseSink?.(api, status);
  } catch {
    // A counting failure never fails a request.
  }
}

export interface RequestCounters {
  total: number;
  byRoute: Record<string, number>;
}

const MB = 1024 * 1024;

/**
 * The largest answer read from each API (bytes, after decompression). Generous for real pages,
 * small enough that one answer cannot exhaust the worker's 128 MB heap: a Pipedrive page of 500
 * organizations or persons is well under 2 MB, a Chatwoot page of 15 contacts a few dozen KB,
 * Google Chat's answer the message it created. Reading stops at the limit.
 */
export const MAX_RESPONSE_BYTES: Readonly<Record<ApiName, number>> = {
  pipedrive: 8 * MB,
  chatwoot: 4 * MB,
  gchat: 1 * MB,
  email: 1 * MB,
  healthcheck: 1 * MB,
  webhook: 1 * MB,
};

const LARGEST_RESPONSE_BYTES = Math.max(...Object.values(MAX_RESPONSE_BYTES));

/** The largest request body sent to any API (contacts, alert cards: a few KB). */
export const MAX_REQUEST_BYTES = 1 * MB;

const LABEL: Record<ApiName, string> = {
  pipedrive: 'Pipedrive',
  chatwoot: 'Chatwoot',
  gchat: 'Google Chat',
  email: 'Email',
  healthcheck: 'The healthcheck',
  webhook: 'The alert webhook',
};

const megabytes = (bytes: number) => `${Math.round((bytes / MB) * 10) / 10} MB`;

function bodyBytes(data: unknown): number | undefined {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) return data.byteLength;
  return undefined;
}

/**
 * The typed error of a request axios stopped at a size limit (`maxContentLength` for the answer,
 * `maxBodyLength` for our request), or undefined for any other failure. `bad_data`, not retried:
 * the same request would bring the same answer. It names the API, the method, the path (never
 * the query string) and the limit; never the body.
 */
export function sizeLimitError(api: ApiName, err: unknown): ApiError | undefined {
  if (!axios.isAxiosError(err) || err.response) return undefined;
  const cfg = err.config;
  if (!cfg) return undefined;
  const method = (cfg.method ?? 'get').toUpperCase();
  let path: string | undefined;
  try {
    path = new URL(axios.getUri(cfg)).pathname;
  } catch {
    path = undefined;
  }
  const where = `${method}${path ? ` ${path}` : ''}`;
  const maxResponse = cfg.maxContentLength ?? -1;
  const maxRequest = cfg.maxBodyLength ?? -1;
  // Without an answer, ERR_BAD_RESPONSE is the answer's size only (an aborted stream carries its answer).
  if (err.code === AxiosError.ERR_BAD_RESPONSE && maxResponse > -1)
    return new ApiError({
      api,
      type: 'bad_data',
      reason: 'too_large',
      method,
      path,
      message: `${LABEL[api]} answered ${where} with more than ${megabytes(maxResponse)}, the limit of one answer: it was not read`,
    });
  const sent = bodyBytes(cfg.data);
  if (err.code === AxiosError.ERR_BAD_REQUEST && maxRequest > -1 && sent !== undefined && sent > maxRequest)
    return new ApiError({
      api,
      type: 'bad_data',
      reason: 'too_large',
      method,
      path,
      message: `${LABEL[api]} ${where} was not sent: its body of ${megabytes(sent)} is over the ${megabytes(maxRequest)} limit`,
    });
  return undefined;
}

export interface AxiosOptions {
  /** The API this instance talks to: names it in errors, picks its size limit. */
  api: ApiName;
  /** The largest answer read (bytes); default MAX_RESPONSE_BYTES[api]. */
  maxResponseBytes?: number;
}

/**
 * A keep-alive axios instance that never throws on status (the caller classifies). With `api`,
 * an answer over the size limit is a typed `bad_data` ApiError (see sizeLimitError), and every
 * answer (or its absence) goes to the process's ApiResponseSink.
 */
export function createAxios(
  baseURL: string,
  headers: Record<string, string>,
  timeoutMs = 30_000,
  opts?: AxiosOptions,
): AxiosInstance {
  const instance = axios.create({
    baseURL,
    headers: { accept: 'application/json', ...headers },
    timeout: timeoutMs,
    validateStatus: () => true,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 16 }),
    maxRedirects: 0,
    maxContentLength: opts?.maxResponseBytes ?? (opts ? MAX_RESPONSE_BYTES[opts.api] : LARGEST_RESPONSE_BYTES),
    maxBodyLength: MAX_REQUEST_BYTES,
    transitional: { clarifyTimeoutError: true },
  });
  if (opts)
    instance.interceptors.response.use(
      (res) => {
        reportApiResponse(opts.api, res.status);
        return res;
      },
      (err: unknown) => {
        const status = axios.isAxiosError(err) ? err.response?.status : undefined;
        reportApiResponse(opts.api, status ?? 'error');
        return Promise.reject(sizeLimitError(opts.api, err) ?? err);
      },
    );
  return instance;
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
