import { ApiError, isApiError, isNetworkError, truncate, type ApiErrorReason } from '@pcs/http';

/** What a request was about, so that errors can name it. */
export interface RequestContext {
  method: string;
  /** Route template for counters and messages, e.g. `contacts/:id`. */
  route: string;
  /** Request path without query string, e.g. `/api/v1/accounts/2/contacts/5`. */
  path: string;
  accountId: number;
  /** What a 404 means here, e.g. `contact 5`. */
  what: string;
  /** Replaces secrets in any text that goes into an error. */
  scrub: (text: string) => string;
  /** Milliseconds since the epoch (injectable for tests). */
  now: () => number;
  /** 0..1 (injectable for tests). */
  random: () => number;
}

const ONLINE_RE = /is Online, please try again later/i;
const TAKEN_RE = /has already been taken/i;

/** Maximum wait we accept from a Retry-After header (anything longer is treated as this). */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** Jitter added to the minute-boundary wait so that many workers do not all retry at :00. */
export const MINUTE_JITTER_MS = 2_000;

/**
 * Chatwoot (rack-attack) throttles in fixed windows aligned to `Time.now.to_i / period` and answers
 * `Retry later` without Retry-After: wait until the next minute boundary plus 0..2 s of jitter.
 */
export function msUntilNextMinute(nowMs: number, random: () => number = Math.random): number {
  const rest = 60_000 - (nowMs % 60_000);
  return rest + Math.floor(random() * MINUTE_JITTER_MS);
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const s = String(raw).trim();
  if (s === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(s)) ms = Math.ceil(Number(s) * 1000);
  else {
    const at = Date.parse(s);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** True when a DELETE was refused because the contact is online (422 "<Name> is Online, please try again later"). */
export function isOnlineConflict(err: unknown): boolean {
  return isApiError(err, 'conflict') && err.api === 'chatwoot' && err.reason === 'contact_online';
}

function bodyText(data: unknown): string {
  if (data === undefined || data === null || data === '') return '';
  if (typeof data === 'string') return data;
  try {
    return JSON.stringify(data);
  } catch {
    return String(data);
  }
}

function obj(data: unknown): Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The `error` text, or the devise `errors` array joined, or the `message`. */
function serverText(data: unknown): string {
  const o = obj(data);
  if (typeof o.error === 'string') return o.error;
  const errs = stringList(o.errors);
  if (errs.length) return errs.join('; ');
  if (typeof o.message === 'string') return o.message;
  return typeof data === 'string' ? data.trim() : '';
}

/** Maps a non-2xx Chatwoot answer to a typed ApiError. */
export function errorFromResponse(
  status: number,
  data: unknown,
  headers: Record<string, unknown>,
  ctx: RequestContext,
): ApiError {
  const where = `${ctx.method} ${ctx.route}`;
  const text = ctx.scrub(truncate(serverText(data), 200));
  const base = {
    api: 'chatwoot' as const,
    status,
    method: ctx.method,
    path: ctx.path,
    body: ctx.scrub(truncate(bodyText(data))) || undefined,
  };
  const mk = (
    type: ApiError['type'],
    message: string,
    extra: { attributes?: string[]; retryAfterMs?: number; reason?: ApiErrorReason } = {},
  ): ApiError => new ApiError({ ...base, type, message: ctx.scrub(message), ...extra });

  if (status === 429) {
    const now = ctx.now();
    const retryAfterMs = parseRetryAfter(headers['retry-after'], now) ?? msUntilNextMinute(now, ctx.random);
    return mk(
      'rate_limit',
      `Chatwoot rate limit hit on ${where} (429${text ? ` ${text}` : ''}); retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      { retryAfterMs },
    );
  }
  if (status === 401) {
    if (text === 'You are not authorized to do this action') {
      return mk(
        'forbidden',
        `Chatwoot token is not an administrator's: ${where} was refused (401 "${text}"); an admin token is needed to delete contacts and to create custom attribute definitions`,
      );
    }
    if (text === 'You are not authorized to access this account') {
      return mk('auth', `Chatwoot token is not a member of account ${ctx.accountId} (401 "${text}" on ${where})`);
    }
    return mk(
      'auth',
      `Chatwoot rejected the API access token (401${text ? ` "${text}"` : ''} on ${where}): check the token`,
    );
  }
  if (status === 403) return mk('forbidden', `Chatwoot refused ${where} (403${text ? ` "${text}"` : ''})`);
  if (status === 404) return mk('not_found', `Chatwoot ${ctx.what} not found (404 on ${where})`);
  if (status === 422) {
    const o = obj(data);
    if (typeof o.message === 'string') {
      const attributes = stringList(o.attributes);
      const msg = ctx.scrub(o.message);
      if (ONLINE_RE.test(msg)) {
        return mk(
          'conflict',
          `Chatwoot ${ctx.what}: contact is online (widget presence), deletion refused; retry the deletion later (422 "${msg}")`,
          { attributes: [], reason: 'contact_online' },
        );
      }
      if (TAKEN_RE.test(msg))
        return mk('conflict', `Chatwoot ${where}: ${msg} (422)`, { attributes, reason: 'value_taken' });
      return mk('bad_data', `Chatwoot ${where}: ${msg} (422)`, { attributes });
    }
    return mk('bad_data', `Chatwoot ${where} rejected the request (422${text ? ` "${text}"` : ''})`);
  }
  if (status >= 500) return mk('transient', `Chatwoot server error on ${where} (${status}${text ? ` ${text}` : ''})`);
  if (status >= 300 && status < 400)
    return mk('bad_data', `Chatwoot answered ${status} (redirect) on ${where}: check the base URL`);
  return mk('bad_data', `Chatwoot answered ${status} on ${where}${text ? `: ${text}` : ''}`);
}

/** Maps a failure without an HTTP answer (reset, refused, timeout, DNS) to a typed ApiError. */
export function errorFromException(err: unknown, ctx: RequestContext): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const reason = ctx.scrub(typeof e.message === 'string' ? e.message : String(err));
  // a clean cause: an axios error would carry the request config, token header included
  const cause = Object.assign(new Error(reason), code ? { code } : {});
  // resets, refusals, timeouts (ETIMEDOUT with clarifyTimeoutError), DNS: retry; a bad base URL: no retry helps
  const type = code === 'ERR_INVALID_URL' ? 'bad_data' : 'transient';
  return new ApiError({
    api: 'chatwoot',
    type,
    message: `Chatwoot ${ctx.method} ${ctx.route} failed${isNetworkError(err) ? '' : ' without an answer'}: ${reason}${code ? ` (${code})` : ''}`,
    method: ctx.method,
    path: ctx.path,
    cause,
  });
}
