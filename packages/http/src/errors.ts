/**
 * Typed errors of the outside APIs. The type says what a caller can do about it:
 * - rate_limit: wait `retryAfterMs` and try again (not a failure of the record);
 * - transient: 5xx, timeout, connection reset: retry with backoff;
 * - auth: the credentials are wrong or revoked: no retry helps, fail fast and alert;
 * - forbidden: the credentials lack a permission (or an abuse block): no retry helps;
 * - not_found: the thing is gone;
 * - conflict: the target already holds this value (e.g. Chatwoot 422 "has already been taken");
 * - bad_data: the request or the answer is malformed (e.g. an invalid phone number).
 */
export type ApiName = 'pipedrive' | 'chatwoot' | 'gchat' | 'email' | 'healthcheck';
export type ErrorType = 'rate_limit' | 'transient' | 'auth' | 'forbidden' | 'not_found' | 'conflict' | 'bad_data';

export const RETRYABLE: ReadonlySet<ErrorType> = new Set(['rate_limit', 'transient']);

export interface ApiErrorOptions {
  api: ApiName;
  type: ErrorType;
  message: string;
  status?: number;
  method?: string;
  /** The request path, without query string (it may carry a token). */
  path?: string;
  /** How long to wait before trying again (rate_limit), already capped by the client. */
  retryAfterMs?: number;
  /** Attributes the API named as the problem (Chatwoot 422: ["email", "phone_number"]). */
  attributes?: string[];
  /** A short, secret-free excerpt of the response body. */
  body?: string;
  cause?: unknown;
}

export class ApiError extends Error {
  readonly api: ApiName;
  readonly type: ErrorType;
  readonly status?: number;
  readonly method?: string;
  readonly path?: string;
  readonly retryAfterMs?: number;
  readonly attributes: string[];
  readonly body?: string;

  constructor(opts: ApiErrorOptions) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ApiError';
    this.api = opts.api;
    this.type = opts.type;
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
    this.retryAfterMs = opts.retryAfterMs;
    this.attributes = opts.attributes ?? [];
    this.body = opts.body;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.type);
  }

  /** A plain, secret-free object for logs, job results and alerts. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      api: this.api,
      type: this.type,
      message: this.message,
      status: this.status,
      method: this.method,
      path: this.path,
      retryAfterMs: this.retryAfterMs,
      attributes: this.attributes.length ? this.attributes : undefined,
    };
  }
}

export function isApiError(err: unknown, type?: ErrorType): err is ApiError {
  return err instanceof ApiError && (type === undefined || err.type === type);
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
  'ERR_NETWORK',
  'ENOTFOUND',
]);

/** True for failures below HTTP: resets, refusals, timeouts, DNS. */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

export function truncate(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
