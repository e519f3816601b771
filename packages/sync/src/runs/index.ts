import { randomUUID } from 'node:crypto';
import {
  isDuplicateKey,
  RunEntity,
  type DataSource,
  type EntityManager,
  type Run,
  type RunStatus,
  type RunType,
} from '@pcs/db';
import { countRunEnd } from './counters.js';
import { RunHistory, type RunsOptions } from './history.js';
import { writeOutcomes, type RecordOptions } from './outcomes.js';
import { errorTypeOf, type BeginResult, type Counts, type OutcomeRecord, type RunFailure } from './types.js';

export * from './types.js';
export type { RecordOptions } from './outcomes.js';
export { RunHistory, LISTING_MODES, type RunsOptions } from './history.js';
export {
  METRIC_COUNTERS,
  SYNC_OUTCOMES,
  countAlertSent,
  readCounters,
  syncModeLabel,
  type CounterName,
  type CounterValue,
} from './counters.js';

/**
 * The owner of the `runs` table: the only module that writes it. Every transition (begin, claim
 * the listing, progress, finish, fail, abort, refuse) is a conditional UPDATE guarded by the state
 * it expects, stamped by one clock (the database's UTC_TIMESTAMP), so two workers, a retried job
 * and the reaper can race without ever ending a run twice or reviving an ended one. It alone
 * answers "the last complete listing" and "the last successful sync". It counts, as they happen,
 * the ended runs and the records of /metrics (counters.ts), so pruning old runs lowers no counter.
 *
 * A running run carries a lease that its progress renews (a listing page, a batch committed). A run
 * whose lease ran out is looked at by the reaper (every worker, on a timer): when its BullMQ jobs
 * are gone or failed for good, it is ended `failed` with the reason, so nothing waits on a run no
 * one holds. docs/contract.md §6a: within 5 minutes.
 */

/** How long a running run stays alive without progress before the reaper looks at its jobs. */
export const RUN_LEASE_SECONDS = 120;

const OTHER: Record<RunType, RunType> = { sync: 'cleanup', cleanup: 'sync' };

export class Runs extends RunHistory {
  private readonly lease: number;

  constructor(ds: DataSource, opts: RunsOptions = {}) {
    super(ds, opts);
    this.lease = opts.leaseSeconds ?? RUN_LEASE_SECONDS;
  }

  private async exec(sql: string, params: unknown[], m: Pick<EntityManager, 'query'> = this.ds): Promise<number> {
    const res = (await m.query(sql, params)) as { affectedRows?: number };
    return res.affectedRows ?? 0;
  }

  // --- begin ---------------------------------------------------------------------------------

  /**
   * Creates a sync or cleanup run unless one of the same type runs (that one comes back as
   * `duplicate`) or one of the other type does (`blocked`: sync and cleanup never run at once).
   * Decided under a MySQL named lock, so any number of workers agree. A retried job resumes its
   * own run id.
   */
  async begin(init: {
    type: RunType;
    mode: string;
    trigger: string;
    runId?: string;
    jobId?: string;
    details?: Record<string, unknown>;
  }): Promise<BeginResult> {
    const name = `pcs_runs_${String(this.ds.options.database)}`.slice(0, 64);
    return this.db('begin run', () =>
      this.withNamedLock(name, async () => {
        if (init.runId) {
          const same = await this.ds.getRepository(RunEntity).findOneBy({ id: init.runId });
          if (same) return { state: 'resumed', run: same };
        }
        const sameType = await this.active(init.type);
        if (sameType) return { state: 'duplicate', run: sameType };
        const other = await this.active(OTHER[init.type]);
        if (other) return { state: 'blocked', run: other };
        const id = init.runId ?? randomUUID();
        await this.exec(
          `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, lease_until, job_id, details)
           VALUES (?, ?, ?, ?, 'running', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND, ?, ?)`,
          [
            id,
            init.type,
            init.mode,
            init.trigger,
            this.lease,
            init.jobId ?? null,
            JSON.stringify(init.details ?? null),
          ],
        );
        return { state: 'started', run: (await this.ds.getRepository(RunEntity).findOneByOrFail({ id })) as Run };
      }),
    );
  }

  /** A targeted run (one organization, a webhook event or an operator): no exclusion, its listing is the org itself. */
  async beginTargeted(init: { trigger: string; jobId?: string; details: Record<string, unknown> }): Promise<Run> {
    const id = randomUUID();
    await this.db('begin targeted run', () =>
      this.exec(
        `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, listing_started_at, listing_complete, lease_until, job_id, details)
         VALUES (?, 'sync', 'webhook', ?, 'running', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), 1, UTC_TIMESTAMP(3) + INTERVAL ? SECOND, ?, ?)`,
        [id, init.trigger, this.lease, init.jobId ?? null, JSON.stringify(init.details)],
      ),
    );
    return (await this.get(id))!;
  }

  private async withNamedLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const runner = this.ds.createQueryRunner();
    await runner.connect();
    try {
      const rows = (await runner.query('SELECT GET_LOCK(?, 30) AS got', [name])) as { got: number | null }[];
      if (Number(rows[0]?.got) !== 1) throw new Error(`could not take lock ${name} within 30 s`);
      try {
        return await fn();
      } finally {
        await runner.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }

  // --- progress ------------------------------------------------------------------------------

  /** The listing starts now (its start is the next incremental run's `since`). False: the run ended meanwhile. */
  async startListing(id: string, patch: { mode: string; details: Record<string, unknown> }): Promise<boolean> {
    const n = await this.db('start listing', () =>
      this.exec(
        `UPDATE runs SET mode = ?, details = ?, listing_started_at = UTC_TIMESTAMP(3),
           lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND
         WHERE id = ? AND status = 'running'`,
        [patch.mode, JSON.stringify(patch.details), this.lease, id],
      ),
    );
    return n > 0;
  }

  /** Progress: renews the lease (and records the details or batches known so far). False: the run ended meanwhile. */
  async progress(
    id: string,
    patch: { details?: Record<string, unknown>; batchesTotal?: number } = {},
  ): Promise<boolean> {
    const sets = ['lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND'];
    const params: unknown[] = [this.lease];
    if (patch.details) {
      sets.push('details = ?');
      params.push(JSON.stringify(patch.details));
    }
    if (patch.batchesTotal !== undefined) {
      sets.push('batches_total = ?');
      params.push(patch.batchesTotal);
    }
    const n = await this.db('run progress', () =>
      this.exec(`UPDATE runs SET ${sets.join(', ')} WHERE id = ? AND status = 'running'`, [...params, id]),
    );
    return n > 0;
  }

  /** The listing is complete: every batch is known. False: the run ended meanwhile. */
  async completeListing(
    id: string,
    patch: { batchesTotal: number; details?: Record<string, unknown> },
  ): Promise<boolean> {
    const n = await this.db('complete listing', () =>
      this.exec(
        `UPDATE runs SET listing_complete = 1, batches_total = ?, details = COALESCE(?, details),
           listing_started_at = COALESCE(listing_started_at, started_at),
           lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND
         WHERE id = ? AND status = 'running'`,
        [patch.batchesTotal, patch.details ? JSON.stringify(patch.details) : null, this.lease, id],
      ),
    );
    return n > 0;
  }

  /**
   * Records the outcomes of a batch (or of a targeted upsert) in one transaction with `alsoWrite`
   * (the organization rows the same work changed) and the run's counters. An organization that
   * already has an outcome in this run (the batch ran twice: a crash after its commit, a stalled
   * job run again) is neither recorded nor counted again, and `alsoWrite` is told only the new ones.
   * `batchDone`: this batch has ended (counted once, however often it ends).
   */
  async recordOutcomes(id: string, records: readonly OutcomeRecord[], opts: RecordOptions = {}): Promise<Counts> {
    // The unique key (run_id, org_id) is the guard: the same batch committing twice at once
    // (a stalled job run again while the first one still works) fails one of the two inserts,
    // which then starts over and finds those outcomes recorded. No locking read: concurrent
    // batches of one run never wait on each other's gaps.
    for (let attempt = 1; ; attempt++) {
      const how = { filter: attempt > 1, leaseSeconds: this.lease };
      try {
        return await this.db('record outcomes', () =>
          this.ds.transaction((m) => writeOutcomes(m, id, records, opts, how)),
        );
      } catch (err) {
        if (attempt >= 3 || !isDuplicateKey(err)) throw err;
      }
    }
  }

  // --- ends ----------------------------------------------------------------------------------

  /**
   * Ends the run when its listing is complete and every batch has ended: `partial` when a record
   * failed or was written with a value left off, else `succeeded`. Exactly one caller gets the run back.
   */
  async finishIfDone(id: string): Promise<Run | undefined> {
    return this.end(
      'finish run',
      id,
      `UPDATE runs SET status = CASE WHEN failed > 0 OR warnings > 0 THEN 'partial' ELSE 'succeeded' END,
         finished_at = UTC_TIMESTAMP(3), lease_until = NULL
       WHERE id = ? AND status = 'running' AND listing_complete = 1 AND batches_done >= batches_total`,
      [id],
    );
  }

  /**
   * Ends a running run as failed. `ifLease`: only if it made no progress since the caller looked
   * (the reaper's guard). The run comes back to the one caller that ended it.
   */
  async fail(id: string, failure: RunFailure, opts: { ifLease?: Date | null } = {}): Promise<Run | undefined> {
    const guard =
      opts.ifLease !== undefined
        ? ' AND lease_until <=> ? AND (lease_until IS NULL OR lease_until < UTC_TIMESTAMP(3))'
        : '';
    return this.end(
      'fail run',
      id,
      `UPDATE runs SET status = 'failed', finished_at = UTC_TIMESTAMP(3), lease_until = NULL,
         error_type = ?, error_message = ?, error_kind = ?, error_source = ?
       WHERE id = ? AND status = 'running'${guard}`,
      [
        (failure.errorType ?? errorTypeOf(failure)).slice(0, 32),
        failure.message.slice(0, 1000),
        failure.kind,
        failure.source ?? null,
        id,
        ...(opts.ifLease !== undefined ? [opts.ifLease] : []),
      ],
    );
  }

  /** An operator's abort: the run ends `failed` with the reason `aborted` (no alert: someone chose it). */
  abort(id: string, by = 'an operator'): Promise<Run | undefined> {
    return this.fail(id, { kind: 'aborted', errorType: 'aborted', message: `aborted by ${by}` });
  }

  /** Ends a cleanup run with its own counters and report. */
  async endCleanup(
    id: string,
    end: {
      status: Extract<RunStatus, 'succeeded' | 'partial' | 'refused'>;
      processed?: number;
      marked?: number;
      deleted?: number;
      skipped?: number;
      failed?: number;
      errorType?: string | null;
      errorMessage?: string | null;
      details: Record<string, unknown>;
    },
  ): Promise<Run | undefined> {
    return this.end(
      'end cleanup',
      id,
      `UPDATE runs SET status = ?, finished_at = UTC_TIMESTAMP(3), lease_until = NULL, processed = ?, marked = ?,
         deleted = ?, skipped = ?, failed = ?, error_type = ?, error_message = ?, error_kind = ?, details = ?
       WHERE id = ? AND status = 'running'`,
      [
        end.status,
        end.processed ?? 0,
        end.marked ?? 0,
        end.deleted ?? 0,
        end.skipped ?? 0,
        end.failed ?? 0,
        end.errorType ?? null,
        end.errorMessage?.slice(0, 1000) ?? null,
        end.status === 'refused' ? 'refused' : null,
        JSON.stringify(end.details),
        id,
      ],
    );
  }

  /**
   * One end transition: the guarded UPDATE and, when it changed the run (exactly one caller's
   * does), the run's count in `metric_counters` (docs/contract.md §4), in one transaction: a run
   * is counted once, whichever path ends it (its handler, the reaper, an abort), and never
   * without its end. The ended run comes back to that one caller.
   */
  private end(what: string, id: string, sql: string, params: unknown[]): Promise<Run | undefined> {
    return this.db(what, () =>
      this.ds.transaction(async (m) => {
        if (!(await this.exec(sql, params, m))) return undefined;
        const run = (await m.getRepository(RunEntity).findOneByOrFail({ id })) as Run;
        await countRunEnd(m, run);
        return run;
      }),
    );
  }

  /** The alerts of this run's end were evaluated (or it raises none). */
  async markAlertsDone(id: string): Promise<void> {
    await this.db('mark alerts done', () => this.exec('UPDATE runs SET alerts_done = 1 WHERE id = ?', [id]));
  }
}
