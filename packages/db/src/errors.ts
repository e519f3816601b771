import { AppError, isKind, kindOf, retryFor } from '@pcs/errors';

/**
 * What a database error means for the caller, read from the driver's codes (never its message):
 * - unreachable: the server did not answer or dropped the connection: retry when it is back;
 * - busy: a deadlock or a lock wait timed out: retry now;
 * - timeout: the server stopped a statement that ran past the session's limit (see
 *   `createDataSource`'s `statementTimeoutMs`): a loaded server or a lock held long; retry later;
 * - denied: the user or password is refused, or the TLS settings (MYSQL_SSL, MYSQL_SSL_CA) are;
 * - missing: the database or a table does not exist (not created or not migrated);
 * - statement: anything else the server refused (a bug, most likely).
 */
export type DatabaseFailure = 'unreachable' | 'busy' | 'timeout' | 'denied' | 'missing' | 'statement';

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'POOL_CLOSED',
  'DATABASE_TIMEOUT',
]);
const BUSY_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_QUERY_INTERRUPTED']);
/** A connection the TLS settings let fail: certificate not trusted, server without TLS (see explainConnectError). */
export const DATABASE_TLS = 'DATABASE_TLS';
const DENIED_CODES = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_SECURE_TRANSPORT_REQUIRED',
  DATABASE_TLS,
  'ER_DBACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
]);
const MISSING_CODES = new Set(['ER_BAD_DB_ERROR', 'ER_NO_SUCH_TABLE']);

/** The code of a statement stopped by the session's time limit, as a typed error of this package carries it. */
export const STATEMENT_TIMEOUT = 'STATEMENT_TIMEOUT';
/** MariaDB's ER_STATEMENT_TIMEOUT (max_statement_time; mysql2 has no name for it) and MySQL's ER_QUERY_TIMEOUT (max_execution_time). */
const TIMEOUT_ERRNOS = new Set([1969, 3024]);

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | undefined;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

function errnoOf(err: unknown): number | undefined {
  const e = err as { errno?: unknown; driverError?: { errno?: unknown } } | undefined;
  const errno = e?.driverError?.errno ?? e?.errno;
  return typeof errno === 'number' ? errno : undefined;
}

/** Whether a driver error is the server stopping a statement at the session's time limit. */
export function isStatementTimeout(err: unknown): boolean {
  if (codeOf(err) === STATEMENT_TIMEOUT || codeOf(err) === 'ER_QUERY_TIMEOUT') return true;
  const errno = errnoOf(err);
  return errno !== undefined && TIMEOUT_ERRNOS.has(errno);
}

/**
 * The typed error of a statement the server stopped at the session's limit: kind `database`,
 * failure `timeout`; the driver's error is its cause.
 */
export function statementTimeout(err: unknown, limitMs: number | undefined): AppError {
  const limit = limitMs ? ` after the ${limitMs / 1000} s limit` : '';
  return new AppError({
    kind: 'database',
    source: 'database',
    code: STATEMENT_TIMEOUT,
    message: `the database stopped a statement${limit} (statement timeout)`,
    cause: err,
  });
}

/** The failure class of an error of the database kind; undefined for an error of another kind. */
export function databaseFailure(err: unknown): DatabaseFailure | undefined {
  if (kindOf(err) !== 'database') return undefined;
  const code = codeOf(err);
  const fatal = (err as { fatal?: unknown } | undefined)?.fatal === true;
  if (code && UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (code && BUSY_CODES.has(code)) return 'busy';
  if (isStatementTimeout(err)) return 'timeout';
  if (code && DENIED_CODES.has(code)) return 'denied';
  if (code && MISSING_CODES.has(code)) return 'missing';
  return fatal ? 'unreachable' : 'statement';
}

/**
 * Whether an error says the database cannot be used from here: away, refusing the credentials,
 * or without the configured database (the CLI's exit code 3). A refused statement is not that.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  const f = databaseFailure(err);
  return f === 'unreachable' || f === 'denied' || f === 'missing';
}

/**
 * Redis or the database cannot be reached (the CLI's and the worker's exit code 3, the alert
 * engine's reason to use its fallback); a statement the database refused is not that.
 */
export function isServiceUnreachable(err: unknown): boolean {
  return isKind(err, 'redis') || isDatabaseUnreachable(err);
}

/** A write the unique key refused: the row is there already (written by a concurrent twin). */
export function isDuplicateKey(err: unknown): boolean {
  return kindOf(err) === 'database' && codeOf(err) === 'ER_DUP_ENTRY';
}

/**
 * Whether trying the same statement again later can succeed (the server away, a lock conflict, a
 * statement stopped at the time limit by a loaded server).
 */
export function isRetryableDatabaseError(err: unknown): boolean {
  const f = databaseFailure(err);
  return f === 'unreachable' || f === 'busy' || f === 'timeout';
}

/** The error of a database that did not answer in time. */
export function databaseTimeout(ms: number): AppError {
  return new AppError({
    kind: 'database',
    source: 'database',
    code: 'DATABASE_TIMEOUT',
    message: `database did not answer within ${ms} ms`,
  });
}

export interface DatabaseRetryOptions {
  /** How long to keep trying while the database is away (ms). */
  budgetMs: number;
  /** Told before each new try (for a log line). */
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * Runs `fn`, trying again with capped exponential backoff while it fails because the database is
 * unreachable, busy or timed out, for up to `budgetMs`; any other error, or the budget spent, is thrown.
 * `fn` must be safe to run again (a transaction that rolled back, an idempotent write).
 */
export function withDatabaseRetry<T>(fn: () => Promise<T>, opts: DatabaseRetryOptions): Promise<T> {
  return retryFor(fn, { budgetMs: opts.budgetMs, when: isRetryableDatabaseError, onRetry: opts.onRetry });
}
