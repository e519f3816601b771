import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for a year of history (300k runs, 3M outcomes, 500k check results) and for its pruning
 * (RETENTION_DAYS, docs/contract.md §3). Each one serves questions of `RunHistory`
 * (packages/sync/src/runs/history.ts), which asks them one mode (and status) at a time so that
 * every branch reads an index in order and stops at its first row:
 * - runs (type, mode, started_at, status): the first and the latest listing run of a mode, the
 *   latest ended ones ("failed in a row", `manage runs`), the runs of a mode since a moment;
 * - runs (type, mode, listing_complete, listing_started_at, status): the last complete listing of
 *   a mode (the full-or-incremental decision, the consistency check);
 * - check_results (check_name, id): the latest result of each check by a loose index scan;
 * - run_batches (ended_at): the prune finds old batches without reading the table;
 * - alert_outbox (relayed_at): the prune finds delivered alerts the same way.
 * The last successful sync uses (type, mode, status, finished_at) from StateOwners; the prune of
 * runs uses (type, status, finished_at) from Init; outcomes and check results are pruned by
 * primary key ranges, bounded through (created_at, …) and (checked_at).
 */
export class HistoryIndexes1764700000000 implements MigrationInterface {
  name = 'HistoryIndexes1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs
      ADD KEY IDX_runs_type_mode_started (type, mode, started_at, status),
      ADD KEY IDX_runs_listing (type, mode, listing_complete, listing_started_at, status)`);
    await q.query('ALTER TABLE check_results ADD KEY IDX_checks_name_id (check_name, id)');
    await q.query('ALTER TABLE run_batches ADD KEY IDX_batches_ended (ended_at)');
    await q.query('ALTER TABLE alert_outbox ADD KEY IDX_outbox_relayed (relayed_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE alert_outbox DROP KEY IDX_outbox_relayed');
    await q.query('ALTER TABLE run_batches DROP KEY IDX_batches_ended');
    await q.query('ALTER TABLE check_results DROP KEY IDX_checks_name_id');
    await q.query('ALTER TABLE runs DROP KEY IDX_runs_listing, DROP KEY IDX_runs_type_mode_started');
  }
}
