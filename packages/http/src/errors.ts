import { AppError, type ErrorKind } from '@pcs/errors';

/**
 * Typed errors of the outside APIs: an AppError (see @pcs/errors) whose kind is one of the API
 * kinds and whose source is the API. The kind says what a caller can do about it: wait
 * (rate_limit), retry (transient), give up and alert (auth, forbidden), or treat the record
 * (not_found, conflict, bad_data).
 */
export type ApiName = 'pipedrive' | 'chatwoot' | 'gchat' | 'email' | 'healthcheck' | 'webhook';
export type ErrorType = Extract<
  ErrorKind,
  'rate_limit' | 'transient' | 'auth' | 'forbidden' | 'not_found' | 'conflict' | 'bad_data'
>;

/**
 * Finer reasons a client reads from an API's answer (its protocol), so no caller reads a message.
 * `too_large`: the answer (or our request) was over the size limit of @pcs/http, and was not read.
 */
export type ApiErrorReason = 'contact_online' | 'value_taken' | 'daily_budget' | 'too_large';

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
  /** A finer reason the client read from the API's answer, for callers to act on (e.g. `contact_online`). */
  reason?: ApiErrorReason;
  /** A short, secret-free excerpt of the response body. */
  body?: string;
  cause?: unknown;
}

export class ApiError extends AppError {
  readonly api: ApiName;
  /** The kind, under the name the API clients have always used. */
  readonly type: ErrorType;
  readonly status?: number;
  readonly method?: string;
  readonly path?: string;
  readonly retryAfterMs?: number;
  readonly attributes: string[];
  readonly reason?: ApiErrorReason;
  readonly body?: string;

  constructor(opts: ApiErrorOptions) {
    super({ kind: opts.type, source: opts.api, message: opts.message, cause: opts.cause });
    this.name = 'ApiError';
    this.api = opts.api;
    this.type = opts.type;
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
    this.retryAfterMs = opts.retryAfterMs;
    this.attributes = opts.attributes ?? [];
    this.reason = opts.reason;
    this.body = opts.body;
  }

  /** A plain, secret-free object for logs, job results and alerts. */
  override toJSON(): Record<string, unknown> {
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
      reason: this.reason,
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
