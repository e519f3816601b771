import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A mirror of what the sync needs from Pipedrive, so that upsert batches read organizations and
 * their persons from the database instead of asking Pipedrive again (one listing per run, no
 * request per organization), and an incremental run can rebuild an organization's contact when
 * only one of its persons changed.
 */
export class PipedriveMirror1764300000000 implements MigrationInterface {
  name = 'PipedriveMirror1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE organizations
      ADD COLUMN label_ids VARCHAR(1024) NULL,
      ADD COLUMN city VARCHAR(255) NULL,
      ADD COLUMN country VARCHAR(255) NULL,
      ADD COLUMN custom_fields LONGTEXT NULL,
      ADD COLUMN seen_run_id CHAR(36) NULL,
      ADD KEY IDX_org_seen (seen_run_id)`);
    await q.query(`CREATE TABLE IF NOT EXISTS persons (
      id BIGINT NOT NULL,
      org_id BIGINT NULL,
      emails LONGTEXT NULL,
      phones LONGTEXT NULL,
      is_deleted TINYINT(1) NOT NULL DEFAULT 0,
      update_time DATETIME(3) NULL,
      seen_run_id CHAR(36) NULL,
      PRIMARY KEY (id),
      KEY IDX_persons_org (org_id, id),
      KEY IDX_persons_seen (seen_run_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS persons');
    await q.query(
      'ALTER TABLE organizations DROP KEY IDX_org_seen, DROP COLUMN seen_run_id, DROP COLUMN custom_fields, DROP COLUMN country, DROP COLUMN city, DROP COLUMN label_ids',
    );
  }
}
