import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Small named settings of a deployment. First: `sync_target`, the Pipedrive and Chatwoot the
 * stored mirror and contact ids belong to, so that pointing the tool at another account (the
 * simulator, then the real one) never updates a contact by an id that belonged to the other.
 */
export class SyncTarget1764500000000 implements MigrationInterface {
  name = 'SyncTarget1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS pcs_settings (
      name VARCHAR(64) NOT NULL,
      value TEXT NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (name)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS pcs_settings');
  }
}
