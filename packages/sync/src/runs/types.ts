import { databaseFailure, type Run } from '@pcs/db';
import { alertErrorType, describeError, type ErrorKind, type ErrorSource } from '@pcs/errors';

/** Why a run failed: the error's kind and source (see @pcs/errors), or `aborted` / `lost`. */
export interface RunFailure {
  kind: ErrorKind | 'aborted' | 'lost' | 'internal';
  source?: ErrorSource;
  message: string;
  /** The alert error type; derived from the kind when absent. */
  errorType?: string;
}

/**
 * The failure of a typed error (its kind and source travel to the alert and the exit code). A
 * statement the database refused is a bug, not the database being away: `internal`.
 */
export function failureOf(err: unknown, prefix = ''): RunFailure {
  const { kind, source, message } = describeError(err);
  const bug = kind === 'database' && databaseFailure(err) === 'statement';
  return { kind: bug ? 'internal' : kind, source: bug ? undefined : source, message: `${prefix}${message}` };
}

export type BeginResult =
  /** This run may go on. */
  | { state: 'started'; run: Run }
  /** The same run id exists already (a retried or resumed job). */
  | { state: 'resumed'; run: Run }
  /** Another run of the same type is in progress. */
  | { state: 'duplicate'; run: Run }
  /** A run of the other type is in progress: try again later. */
  | { state: 'blocked'; run: Run };

/** Counter columns an outcome adds to (a warning counts under its action and under warnings). */
export const COUNTERS = [
  'created',
  'updated',
  'unchanged',
  'adopted',
  'failed',
  'warnings',
  'marked',
  'deleted',
  'skipped',
] as const;
type Counter = (typeof COUNTERS)[number];
export type Counts = Record<Counter, number>;

export type OutcomeAction =
  'created' | 'updated' | 'unchanged' | 'adopted' | 'failed' | 'marked' | 'deleted' | 'skipped';

/** What happened to one organization in a run. */
export interface OutcomeRecord {
  orgId: number;
  action: OutcomeAction;
  /** A value was left off: the outcome is stored as `warning`. */
  warning?: string;
  errorType?: string | null;
  message?: string | null;
}

export function emptyCounts(): Counts {
  return Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Counts;
}

export function countOutcomes(records: readonly OutcomeRecord[]): Counts {
  const c = emptyCounts();
  for (const r of records) {
    c[r.action] += 1;
    if (r.warning) c.warnings += 1;
  }
  return c;
}

/** The alert error type of a run failure. */
export function errorTypeOf(failure: Pick<RunFailure, 'kind' | 'errorType'>): string {
  if (failure.errorType) return failure.errorType;
  if (failure.kind === 'aborted') return 'aborted';
  if (failure.kind === 'lost') return 'system error';
  return alertErrorType(failure.kind);
}
