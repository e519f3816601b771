import axios from 'axios';
import { ApiError, isNetworkError, truncate } from '@pcs/http';

/** What a classified error needs to know about the request (never the query string or the token). */
export interface RequestContext {
  method: string;
  /** Path below the company origin, without query string, e.g. `/api/v2/organizations/12`. */
  path: string;
  /** Removes the API token from any text that ends up in an error. */
  redact: (text: string) => string;
  timeoutMs: number;
}

/** Fallback wait when a 429 carries neither `Retry-After` nor `x-ratelimit-reset`. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 2_000;
/** Sanity cap on a reported wait (a daily budget resets within 24 h). */
const MAX_REPORTED_WAIT_MS = 24 * 3_600_000;

type HeaderBag = Record<string, unknown> | undefined;

export function header(headers: HeaderBag, name: string): string | undefined {
  if (!headers) return undefined;
  const raw = headers[name.toLowerCase()] ?? headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function secondsToMs(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v.trim());
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n * 1000);
  return undefined;
}

/**
 * How long a 429 asks to wait: `Retry-After` (seconds or an HTTP date), else `x-ratelimit-reset`
 * (seconds), else 2 s. Not capped by the retry policy here: `withRetry` compares it with
 * `maxRateLimitWaitMs` and hands a longer wait to the caller with the real value.
 */
export function retryAfterMs(headers: HeaderBag, now = Date.now()): number {
  const ra = header(headers, 'retry-after');
  let ms = secondsToMs(ra);
  if (ms === undefined && ra !== undefined) {
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) ms = Math.max(0, at - now);
  }
  ms ??= secondsToMs(header(headers, 'x-ratelimit-reset'));
  ms ??= DEFAULT_RATE_LIMIT_WAIT_MS;
  return Math.min(ms, MAX_REPORTED_WAIT_MS);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The API's own error text: `error`, else `message`, else a v1 `errors` map ("field: msg"). */
export function apiErrorText(data: unknown): string | undefined {
  if (!isObject(data)) return undefined;
  if (typeof data.error === 'string' && data.error.trim()) return data.error.trim();
  if (typeof data.message === 'string' && data.message.trim()) return data.message.trim();
  if (isObject(data.errors)) {
    const parts = Object.entries(data.errors).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`);
    if (parts.length) return parts.join('; ');
  }
  return undefined;
}

function bodyExcerpt(data: unknown, redact: (s: string) => string): string | undefined {
  if (data === undefined || data === null || data === '') return undefined;
  let text: string;
  if (typeof data === 'string') text = data;
  else {
    try {
      text = JSON.stringify(data);
    } catch {
      return undefined;
    }
  }
  return truncate(redact(text), 300);
}

function isHtml(headers: HeaderBag, data: unknown): boolean {
  const ct = header(headers, 'content-type') ?? '';
  if (/text\/html/i.test(ct)) return true;
  return typeof data === 'string' && data.trimStart().startsWith('<');
}

export interface ResponseLike {
  status: number;
  headers: HeaderBag;
  data: unknown;
}

/**
 * Maps a non-2xx response to a typed error (null for 2xx). Branches on the status first and
 * reads the body best-effort (it may be HTML).
 */
export function errorFromResponse(res: ResponseLike, ctx: RequestContext): ApiError | null {
  const { status, headers, data } = res;
  if (status >= 200 && status < 300) return null;
  const text = apiErrorText(data);
  const quoted = text ? ctx.redact(text) : undefined;
  const base = {
    api: 'pipedrive' as const,
    status,
    method: ctx.method,
    path: ctx.path,
    body: bodyExcerpt(data, ctx.redact),
  };
  const where = `${ctx.method} ${ctx.path}`;

  if (status === 401) {
    return new ApiError({
      ...base,
      type: 'auth',
      message: `Pipedrive rejected the API token (401 ${quoted ?? 'unauthorized access'})`,
    });
  }
  if (status === 403) {
    if (isHtml(headers, data)) {
      return new ApiError({
        ...base,
        type: 'forbidden',
        message:
          "Pipedrive's abuse protection (Cloudflare) blocked the API token after too many requests over the rate limit " +
          '(403 HTML page); stop sending and wait before trying again',
      });
    }
    return new ApiError({
      ...base,
      type: 'forbidden',
      message: `Pipedrive refused ${where} (403 ${quoted ?? 'forbidden'})`,
    });
  }
  if (status === 402) {
    return new ApiError({
      ...base,
      type: 'forbidden',
      message: `Pipedrive company account is not open (402 ${quoted ?? 'payment required'}): trial ended or payment details missing`,
    });
  }
  if (status === 404) {
    return new ApiError({
      ...base,
      type: 'not_found',
      message: `Pipedrive ${where} not found (404 ${quoted ?? 'not found'})`,
    });
  }
  if (status === 429) {
    const wait = retryAfterMs(headers);
    const daily =
      /daily request budget/i.test(text ?? '') || header(headers, 'x-daily-ratelimit-token-remaining')?.trim() === '0';
    const secs = Math.ceil(wait / 1000);
    const message = daily
      ? `Pipedrive daily budget exhausted (429 ${quoted ?? 'daily request budget exceeded'}); resets in ${secs} s`
      : `Pipedrive rate limit exceeded (429 ${quoted ?? 'too many requests'}); retry in ${secs} s`;
    return new ApiError({
      ...base,
      type: 'rate_limit',
      retryAfterMs: wait,
      message,
      reason: daily ? 'daily_budget' : undefined,
    });
  }
  if (status === 408 || status >= 500) {
    return new ApiError({
      ...base,
      type: 'transient',
      message: `Pipedrive ${where} failed (${status} ${quoted ?? 'server error'})`,
    });
  }
  if (status === 409) {
    return new ApiError({
      ...base,
      type: 'conflict',
      message: `Pipedrive ${where} conflict (409 ${quoted ?? 'conflict'})`,
    });
  }
  if (status >= 300 && status < 400) {
    return new ApiError({
      ...base,
      type: 'bad_data',
      message: `Pipedrive ${where} answered with a redirect (${status}); check PIPEDRIVE_BASE_URL (use https://<company>.pipedrive.com)`,
    });
  }
  // 400, 405, 410, 415, 422 and any other 4xx
  return new ApiError({
    ...base,
    type: 'bad_data',
    message: `Pipedrive rejected ${where} (${status} ${quoted ?? 'bad request'})`,
  });
}

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

/** Maps an exception of the transport (no HTTP response) to a typed error, without the axios config (it holds the token). */
export function errorFromException(err: unknown, ctx: RequestContext): ApiError {
  if (err instanceof ApiError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  const codeStr = typeof code === 'string' ? code : undefined;
  const rawMsg = err instanceof Error ? err.message : String(err);
  const msg = ctx.redact(rawMsg);
  const cause = Object.assign(new Error(msg), codeStr ? { code: codeStr } : {});
  const base = { api: 'pipedrive' as const, method: ctx.method, path: ctx.path, cause };
  const where = `${ctx.method} ${ctx.path}`;
  if (codeStr && TIMEOUT_CODES.has(codeStr)) {
    return new ApiError({
      ...base,
      type: 'transient',
      message: `Pipedrive ${where} timed out after ${ctx.timeoutMs} ms`,
    });
  }
  if (codeStr === 'ERR_INVALID_URL' || codeStr === 'ERR_BAD_OPTION' || codeStr === 'ERR_BAD_OPTION_VALUE') {
    return new ApiError({
      ...base,
      type: 'bad_data',
      message: `Pipedrive ${where} could not be sent (${codeStr}: ${msg})`,
    });
  }
  if (isNetworkError(err) || axios.isAxiosError(err)) {
    return new ApiError({
      ...base,
      type: 'transient',
      message: `Pipedrive ${where} failed: ${codeStr ? `${codeStr} ` : ''}${msg}`,
    });
  }
  return new ApiError({ ...base, type: 'transient', message: `Pipedrive ${where} failed: ${msg}` });
}

/** A `bad_data` error for an answer (or a request argument) that does not have the expected shape. */
export function badData(
  message: string,
  ctx?: Pick<RequestContext, 'method' | 'path'>,
  status?: number,
  body?: string,
): ApiError {
  return new ApiError({
    api: 'pipedrive',
    type: 'bad_data',
    message,
    method: ctx?.method,
    path: ctx?.path,
    status,
    body,
  });
}
