import type { EntityManager } from '@pcs/db';
import { countSyncRecords } from './counters.js';
import { COUNTERS, countOutcomes, emptyCounts, type Counts, type OutcomeRecord } from './types.js';

export interface RecordOptions {
  /** This batch has ended (counted once, however often it ends). */
  batchDone?: number;
  /**
   * Add to the run's counters and to `pcs_sync_records_total` (sync runs; cleanup keeps its own
   * per-contact counters and passes false).
   */
  count?: boolean;
  /** False: leave `pcs_sync_records_total` alone (a dry run's plan is no record synced, docs/contract.md §2). */
  metrics?: boolean;
  /** Writes of the same work (the organization rows), told which organizations are new here. */
  alsoWrite?: (m: EntityManager, fresh: ReadonlySet<number>) => Promise<void>;
}

/**
 * The statements of one outcome commit, inside the caller's transaction: the outcomes, the
 * writes that go with them, the batch's end, the run's counters (and lease, while it runs), and
 * the records' metric counters.
 * `filter`: look up what is recorded already first (after a twin's commit was refused by the
 * unique key; callers leave out what is done before they start).
 */
export async function writeOutcomes(
  m: EntityManager,
  id: string,
  records: readonly OutcomeRecord[],
  opts: RecordOptions,
  how: { filter: boolean; leaseSeconds: number },
): Promise<Counts> {
  let fresh = records;
  if (how.filter && records.length) {
    const ids = records.map((r) => r.orgId);
    const existing = (await m.query(
      `SELECT org_id FROM record_outcomes WHERE run_id = ? AND org_id IN (${ids.map(() => '?').join(',')})`,
      [id, ...ids],
    )) as { org_id: string | number }[];
    const seen = new Set(existing.map((r) => Number(r.org_id)));
    fresh = records.filter((r) => !seen.has(r.orgId));
  }
  if (fresh.length) {
    const values: unknown[] = [];
    for (const r of fresh) {
      values.push(
        id,
        r.orgId,
        r.warning ? 'warning' : r.action,
        r.errorType ?? (r.warning ? 'bad_data' : null),
        (r.message ?? r.warning ?? null)?.slice(0, 1000) ?? null,
      );
    }
    await m.query(
      `INSERT INTO record_outcomes (run_id, org_id, outcome, error_type, message, created_at)
       VALUES ${fresh.map(() => '(?, ?, ?, ?, ?, UTC_TIMESTAMP(3))').join(', ')}`,
      values,
    );
  }
  await opts.alsoWrite?.(m, new Set(fresh.map((r) => r.orgId)));
  let ended = 0;
  if (opts.batchDone !== undefined) {
    const res = (await m.query(
      'INSERT IGNORE INTO run_batches (run_id, batch, ended_at) VALUES (?, ?, UTC_TIMESTAMP(3))',
      [id, opts.batchDone],
    )) as { affectedRows?: number };
    ended = res.affectedRows ?? 0;
  }
  const c = opts.count === false ? emptyCounts() : countOutcomes(fresh);
  const processed = opts.count === false ? 0 : c.created + c.updated + c.unchanged + c.adopted + c.failed;
  // Counted whatever the run's state (the work was done); the lease moves only while it runs.
  await m.query(
    `UPDATE runs SET processed = processed + ?, ${COUNTERS.map((k) => `${k} = ${k} + ?`).join(', ')},
       batches_done = batches_done + ?,
       lease_until = IF(status = 'running', UTC_TIMESTAMP(3) + INTERVAL ? SECOND, lease_until)
     WHERE id = ?`,
    [processed, ...COUNTERS.map((k) => c[k]), ended, how.leaseSeconds, id],
  );
  // The records newly recorded, each once, whatever the run's state (docs/contract.md §4); after
  // the run's row, as every transaction that adds to counters takes its locks.
  if (opts.count !== false && opts.metrics !== false) await countSyncRecords(m, fresh);
  return c;
}
