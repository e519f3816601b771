import pRetry from 'p-retry';

/**
 * The error taxonomy of the whole project. Every failure that decides what happens next carries a
 * kind (what a caller can do about it) and a source (which part failed), from the place it happened
 * to the alert and to the CLI's exit code. Nothing reads an error's message to decide anything.
 *
 * - rate_limit: wait and try again (not a failure of the record);
 * - transient: 5xx, timeout, connection reset: retry with backoff;
 * - auth: the credentials are wrong or revoked: no retry helps;
 * - forbidden: the credentials lack a permission: no retry helps;
 * - not_found: the thing is gone;
 * - conflict: the target already holds this value;
 * - bad_data: the request or the answer is malformed;
 * - database: MySQL did not answer or refused the statement;
 * - redis: Redis did not answer (queues, locks, the shared rate-limit pause);
 * - config: the configuration is wrong: fix it, then start again.
 */
export type ErrorKind =
  | 'rate_limit'
  | 'transient'
  | 'auth'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'bad_data'
  | 'database'
  | 'redis'
  | 'config';

export type ErrorSource =
  'pipedrive' | 'chatwoot' | 'gchat' | 'email' | 'webhook' | 'healthcheck' | 'database' | 'redis' | 'config';

export const ERROR_KINDS: readonly ErrorKind[] = [
  'rate_limit',
  'transient',
  'auth',
  'forbidden',
  'not_found',
  'conflict',
  'bad_data',
  'database',
  'redis',
  'config',
];

/** Kinds where trying again later can help. */
export const RETRYABLE_KINDS: ReadonlySet<ErrorKind> = new Set(['rate_limit', 'transient', 'database', 'redis']);

/** Kinds that say a part of the system itself is unreachable (the CLI's exit code 3). */
export const UNREACHABLE_KINDS: ReadonlySet<ErrorKind> = new Set(['database', 'redis']);

export interface AppErrorOptions {
  kind: ErrorKind;
  source?: ErrorSource;
  message: string;
  /** A machine-readable code of the underlying driver (`ER_LOCK_DEADLOCK`, `ECONNREFUSED`), when there is one. */
  code?: string;
  cause?: unknown;
}

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly source?: ErrorSource;
  readonly code?: string;

  constructor(opts: AppErrorOptions) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.kind = opts.kind;
    this.source = opts.source;
    this.code = opts.code;
  }

  get retryable(): boolean {
    return RETRYABLE_KINDS.has(this.kind);
  }

  /** A plain, secret-free object for logs and job results. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, kind: this.kind, source: this.source, code: this.code, message: this.message };
  }
}

const TAG = Symbol.for('pcs.error.type');

interface Tag {
  kind: ErrorKind;
  source?: ErrorSource;
}

/**
 * Marks an error raised by a driver (mysql2, ioredis) with the kind of the part that raised it,
 * without changing its class or message (the driver's own callers may look at those). A typed
 * error keeps its own kind.
 */
export function tagError<E>(err: E, kind: ErrorKind, source?: ErrorSource): E {
  if (err instanceof AppError) return err;
  if (typeof err === 'object' && err !== null && !(TAG in err)) {
    Object.defineProperty(err, TAG, { value: { kind, source } satisfies Tag, enumerable: false });
  }
  return err;
}

function tagOf(err: unknown): Tag | undefined {
  if (err instanceof AppError) return { kind: err.kind, source: err.source };
  if (typeof err === 'object' && err !== null && TAG in err) return (err as { [TAG]: Tag })[TAG];
  return undefined;
}

/** The kind of an error, or undefined for an error nobody typed (a bug, most likely). */
export function kindOf(err: unknown): ErrorKind | undefined {
  return tagOf(err)?.kind;
}

/** The part of the system an error came from, when known. */
export function sourceOf(err: unknown): ErrorSource | undefined {
  return tagOf(err)?.source;
}

export function isKind(err: unknown, ...kinds: ErrorKind[]): boolean {
  const k = kindOf(err);
  return k !== undefined && kinds.includes(k);
}

export function isRetryable(err: unknown): boolean {
  const k = kindOf(err);
  return k !== undefined && RETRYABLE_KINDS.has(k);
}

/** Whether an error says Redis or the database cannot be reached. */
export function isUnreachable(err: unknown): boolean {
  const k = kindOf(err);
  return k !== undefined && UNREACHABLE_KINDS.has(k);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The typed view of any error: its kind and source when typed, `internal` otherwise. */
export function describeError(err: unknown): { kind: ErrorKind | 'internal'; source?: ErrorSource; message: string } {
  const tag = tagOf(err);
  return { kind: tag?.kind ?? 'internal', source: tag?.source, message: errorMessage(err) };
}

/** The alert `error_type` (the original deployment's words) of an error kind. */
export function alertErrorType(kind: ErrorKind | 'internal' | undefined): string {
  switch (kind) {
    case 'auth':
    case 'forbidden':
      return 'auth issue';
    case 'bad_data':
      return 'data mismatch';
    case 'rate_limit':
    case 'transient':
    case 'not_found':
    case 'conflict':
      return 'API failure';
    case 'database':
      return 'database connection failure';
    case 'redis':
      return 'redis connection failure';
    case 'config':
      return 'configuration error';
    default:
      return 'system error';
  }
}

/** The name an alert shows for the API an error came from (`details.api`). */
export function apiLabel(source: ErrorSource | undefined): string | undefined {
  switch (source) {
    case 'pipedrive':
      return 'Pipedrive';
    case 'chatwoot':
      return 'Chatwoot';
    case 'gchat':
      return 'Google Chat';
    case 'email':
      return 'Email';
    default:
      return undefined;
  }
}

export interface RetryForOptions {
  /** How long to keep trying (ms); 0: one attempt. */
  budgetMs: number;
  /** Which failures are worth another try. */
  when: (err: unknown) => boolean;
  /** Told after each failed attempt that will be retried (a log line). */
  onRetry?: (err: unknown, attempt: number) => void;
  /** First wait, doubling up to maxWaitMs, with jitter. */
  minWaitMs?: number;
  maxWaitMs?: number;
}

/**
 * Runs `fn` again while it fails with an error `when` accepts, with exponential backoff and jitter
 * (p-retry), until `budgetMs` has passed; then, or on any other error, the last error is thrown.
 */
export async function retryFor<T>(fn: () => Promise<T>, opts: RetryForOptions): Promise<T> {
  if (opts.budgetMs <= 0) return fn();
  return pRetry(fn, {
    retries: Number.POSITIVE_INFINITY,
    maxRetryTime: opts.budgetMs,
    minTimeout: opts.minWaitMs ?? 250,
    maxTimeout: opts.maxWaitMs ?? 5_000,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => opts.when(error),
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (opts.when(error)) opts.onRetry?.(error, attemptNumber);
    },
  });
}

/**
 * Settles as `p`, or rejects with `onTimeout()` after `ms`. `p` itself goes on, unwatched (its
 * later rejection is handled here, so it is never an unhandled one).
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A URL for display (messages, logs): its password and any secret-named query value masked; `***` if it does not parse. */
export function maskUrl(value: string | undefined): string | undefined {
  if (!value) return value;
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()])
      if (/key|token|secret|password|sig/i.test(k)) u.searchParams.set(k, '***');
    return u.toString().replace(/%2A%2A%2A/g, '***');
  } catch {
    return '***';
  }
}
