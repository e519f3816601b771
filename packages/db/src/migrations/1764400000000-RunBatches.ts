import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The batches of a run that have ended, so that a batch run twice (a crash after its commit, a
 * retried job, a resumed listing) is counted once and a run never ends while a batch still runs.
 */
export class RunBatches1764400000000 implements MigrationInterface {
  name = 'RunBatches1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS run_batches (
      run_id CHAR(36) NOT NULL,
      batch INT UNSIGNED NOT NULL,
      ended_at DATETIME(3) NOT NULL,
      PRIMARY KEY (run_id, batch)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS run_batches');
  }
}
