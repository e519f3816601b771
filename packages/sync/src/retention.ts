import type { DataSource } from '@pcs/db';
import { RunHistory } from './runs/history.js';

/**
 * The prune of old history (docs/contract.md §3, RETENTION_DAYS): runs, per-record outcomes, run
 * batches, check results and delivered alerts older than the retention go, in chunks of a few
 * thousand rows, each chunk one short statement of its own (autocommit: its locks last as long as
 * it does). What is never pruned, whatever its age:
 * - the current state of an organization (organizations, persons) and of an alert (alert_states),
 *   and an alert not delivered yet (alert_outbox without relayed_at);
 * - a running run, its outcomes and its batches (a run whose start is older than the retention too);
 * - the runs that answer RunHistory's questions (`decisive`: the last complete listing, the last
 *   successful sync, …), so a prune never changes the full-or-incremental decision, a check or the
 *   status; and the latest result of every check.
 * Every statement deletes rows that are complete on their own (no row depends on another being
 * deleted with it), so a prune stopped anywhere (a crash, a worker stopping, `maxChunks`) leaves
 * nothing half-done, and the next one goes on from what is left. Nothing is held in memory but
 * the current chunk's bounds: the worker runs with a 128 MB heap.
 */

/** Rows per statement by default: 0.1 to 0.3 s each with a year of history and a 128 MB buffer pool (BENCHMARKS.md). */
export const PRUNE_CHUNK_ROWS = 2_000;

export interface PruneOptions {
  retentionDays: number;
  /** Since when the stored runs belong to the current Pipedrive and Chatwoot (targetSince): what decisions look at. */
  since: Date;
  /** Rows per statement (default PRUNE_CHUNK_ROWS). */
  chunkSize?: number;
  /** Stop after this many delete statements (the next prune continues). */
  maxChunks?: number;
  /** Stop between two statements (a worker shutting down). */
  signal?: AbortSignal;
}

export interface PruneReport {
  retentionDays: number;
  /** Rows older than this (the database clock) were pruned. */
  cutoff: string;
  deleted: { outcomes: number; batches: number; runs: number; checks: number; alerts: number };
  /** Delete statements run. */
  statements: number;
  longestStatementMs: number;
  /** False when the prune stopped early (maxChunks, a stop): the next one continues. */
  complete: boolean;
  seconds: number;
}

class Stop extends Error {}

type Rows = { affectedRows?: number };

const ENDED = ['succeeded', 'partial', 'failed', 'refused'];

export async function pruneHistory(ds: DataSource, opts: PruneOptions): Promise<PruneReport> {
  const started = Date.now();
  const chunk = Math.max(1, Math.floor(opts.chunkSize ?? PRUNE_CHUNK_ROWS));
  const [{ cutoff }] = (await ds.query('SELECT UTC_TIMESTAMP(3) - INTERVAL ? DAY AS cutoff', [opts.retentionDays])) as [
    { cutoff: Date },
  ];
  const report: PruneReport = {
    retentionDays: opts.retentionDays,
    cutoff: cutoff.toISOString(),
    deleted: { outcomes: 0, batches: 0, runs: 0, checks: 0, alerts: 0 },
    statements: 0,
    longestStatementMs: 0,
    complete: true,
    seconds: 0,
  };

  /** One delete statement (one chunk), unless the prune must stop first. */
  const exec = async (sql: string, params: unknown[]): Promise<number> => {
    if (opts.signal?.aborted || (opts.maxChunks !== undefined && report.statements >= opts.maxChunks)) throw new Stop();
    const t = Date.now();
    const res = (await ds.query(sql, params)) as Rows;
    report.statements += 1;
    report.longestStatementMs = Math.max(report.longestStatementMs, Date.now() - t);
    return res.affectedRows ?? 0;
  };
  /** `AND <column> NOT IN (…)`, or nothing for an empty list. */
  const notIn = (column: string, ids: readonly (string | number)[]) => ({
    sql: ids.length ? ` AND ${column} NOT IN (${ids.map(() => '?').join(', ')})` : '',
    params: [...ids],
  });
  /** Running runs, read again before each chunk that could touch their rows (a short non-locking read). */
  const running = async () =>
    ((await ds.query("SELECT id FROM runs WHERE status = 'running'")) as { id: string }[]).map((r) => r.id);

  type Clause = { sql: string; params: unknown[] };
  const none = async (): Promise<Clause> => ({ sql: '', params: [] });

  /**
   * Deletes the rows of `table` matching `where` whose `time` is before the cutoff, oldest first,
   * a window of `chunk` rows per statement: the window ends at the time of its last row, read from
   * `time`'s index first (rows sharing that instant go with it), and the next window starts after
   * it. So each statement deletes a range of that index, no statement reads again what an earlier
   * one deleted, rows kept (`keep`, read afresh before each statement) are passed over once, and
   * nothing assumes that ids follow time. `where` is the equality prefix of an index ending in `time`.
   */
  const byTimeWindows = async (
    into: keyof PruneReport['deleted'],
    table: string,
    time: string,
    where: Clause,
    keep: () => Promise<Clause> = none,
  ): Promise<void> => {
    const prefix = where.sql ? `${where.sql} AND ` : '';
    let after: Date | undefined;
    for (;;) {
      const lower: Clause = after ? { sql: ` AND ${time} > ?`, params: [after] } : { sql: '', params: [] };
      const [last] = (await ds.query(
        `SELECT ${time} AS t FROM ${table} WHERE ${prefix}${time} < ?${lower.sql} ORDER BY ${time} LIMIT 1 OFFSET ${chunk - 1}`,
        [...where.params, cutoff, ...lower.params],
      )) as { t: Date }[];
      const upper: Clause = last ? { sql: `${time} <= ?`, params: [last.t] } : { sql: `${time} < ?`, params: [cutoff] };
      const k = await keep();
      report.deleted[into] += await exec(`DELETE FROM ${table} WHERE ${prefix}${upper.sql}${lower.sql}${k.sql}`, [
        ...where.params,
        ...upper.params,
        ...lower.params,
        ...k.params,
      ]);
      if (!last) return;
      after = last.t;
    }
  };
  const runningRunsKept = async () => notIn('run_id', await running());

  try {
    // Outcomes and batches before their runs (a stop in between leaves only rows the next prune takes).
    await byTimeWindows('outcomes', 'record_outcomes', 'created_at', { sql: '', params: [] }, runningRunsKept);
    await byTimeWindows('batches', 'run_batches', 'ended_at', { sql: '', params: [] }, runningRunsKept);
    // Ended runs only (a running one has no finished_at), never one a decision or the status reads,
    // nor one whose alerts are still owed.
    const decisive = notIn('id', [...(await new RunHistory(ds).decisive(opts.since))]);
    for (const type of ['sync', 'cleanup'])
      for (const status of ENDED)
        await byTimeWindows(
          'runs',
          'runs',
          'finished_at',
          // A run whose alerts were never evaluated (a crash before it) stays until the sweep has.
          { sql: 'type = ? AND status = ? AND alerts_done = 1', params: [type, status] },
          async () => decisive,
        );
    // Check results, but the latest of each check (what the status shows).
    const latest = (
      (await ds.query('SELECT MAX(id) AS id FROM check_results GROUP BY check_name')) as { id: string }[]
    ).map((r) => Number(r.id));
    await byTimeWindows('checks', 'check_results', 'checked_at', { sql: '', params: [] }, async () =>
      notIn('id', latest),
    );
    // Delivered alerts (history); one not relayed yet (relayed_at NULL) is a message still owed.
    await byTimeWindows('alerts', 'alert_outbox', 'relayed_at', { sql: '', params: [] });
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    report.complete = false;
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}
