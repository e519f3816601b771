import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One owner per piece of state (the runs module, the alert engine):
 * - runs: the BullMQ job that carries the run, a lease renewed by its progress (the reaper ends a
 *   run whose lease ran out and whose jobs are gone), the typed failure (kind and source), and
 *   whether the alerts of its end were evaluated (so a crash between the two is finished later);
 * - record_outcomes: one outcome per organization and run, enforced;
 * - alert_outbox: the notifications an alert state change owes, committed with the state and
 *   relayed to the notifications queue until Redis takes them.
 */
export class StateOwners1764600000000 implements MigrationInterface {
  name = 'StateOwners1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs
      ADD COLUMN job_id VARCHAR(191) NULL,
      ADD COLUMN lease_until DATETIME(3) NULL,
      ADD COLUMN error_kind VARCHAR(16) NULL,
      ADD COLUMN error_source VARCHAR(16) NULL,
      ADD COLUMN alerts_done TINYINT(1) NOT NULL DEFAULT 0,
      ADD KEY IDX_runs_status_lease (status, lease_until),
      ADD KEY IDX_runs_type_mode_status_finished (type, mode, status, finished_at),
      ADD KEY IDX_runs_alerts_pending (alerts_done, status)`);
    // Runs that ended before this migration had their alerts evaluated already.
    await q.query("UPDATE runs SET alerts_done = 1 WHERE status <> 'running'");
    // Before the unique key: keep the newest outcome of an organization in a run.
    await q.query(`DELETE o1 FROM record_outcomes o1
      JOIN record_outcomes o2 ON o1.run_id = o2.run_id AND o1.org_id = o2.org_id AND o1.id < o2.id`);
    await q.query('ALTER TABLE record_outcomes ADD UNIQUE KEY UQ_outcomes_run_org (run_id, org_id)');
    await q.query(`CREATE TABLE IF NOT EXISTS alert_outbox (
      id BIGINT NOT NULL AUTO_INCREMENT,
      fingerprint VARCHAR(191) NOT NULL,
      channel VARCHAR(16) NOT NULL,
      alert LONGTEXT NOT NULL,
      created_at DATETIME(3) NOT NULL,
      relayed_at DATETIME(3) NULL,
      attempts INT UNSIGNED NOT NULL DEFAULT 0,
      PRIMARY KEY (id),
      KEY IDX_outbox_pending (channel, relayed_at, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS alert_outbox');
    await q.query('ALTER TABLE record_outcomes DROP KEY UQ_outcomes_run_org');
    await q.query(`ALTER TABLE runs DROP KEY IDX_runs_alerts_pending, DROP KEY IDX_runs_type_mode_status_finished,
      DROP KEY IDX_runs_status_lease, DROP COLUMN alerts_done, DROP COLUMN error_source, DROP COLUMN error_kind,
      DROP COLUMN lease_until, DROP COLUMN job_id`);
  }
}
