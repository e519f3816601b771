import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema. Indexes follow the monitor's queries at 100k organizations and millions of
 * outcome rows: unsynced/stale customers (is_customer, sync_state, last_synced_at), the 24 h error
 * rate (created_at, outcome), consecutive failed runs (type, status, started_at), a check's latest
 * result (check_name, checked_at), firing alerts (state).
 */
export class Init1764200000000 implements MigrationInterface {
  name = 'Init1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS organizations (
      id BIGINT NOT NULL,
      name VARCHAR(512) NOT NULL,
      is_customer TINYINT(1) NOT NULL DEFAULT 0,
      is_deleted TINYINT(1) NOT NULL DEFAULT 0,
      chatwoot_contact_id BIGINT NULL,
      content_hash CHAR(64) NULL,
      sync_state VARCHAR(16) NOT NULL DEFAULT 'pending',
      last_synced_at DATETIME(3) NULL,
      last_attempt_at DATETIME(3) NULL,
      last_error_type VARCHAR(32) NULL,
      last_error VARCHAR(1024) NULL,
      rejected_values LONGTEXT NULL,
      pipedrive_update_time DATETIME(3) NULL,
      contact_status VARCHAR(32) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY IDX_org_customer_state (is_customer, sync_state, last_synced_at),
      KEY IDX_org_customer_synced (is_customer, last_synced_at),
      KEY IDX_org_contact (chatwoot_contact_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE IF NOT EXISTS runs (
      id CHAR(36) NOT NULL,
      type VARCHAR(16) NOT NULL,
      mode VARCHAR(16) NOT NULL,
      trigger_source VARCHAR(16) NOT NULL,
      status VARCHAR(16) NOT NULL,
      started_at DATETIME(3) NOT NULL,
      finished_at DATETIME(3) NULL,
      listing_started_at DATETIME(3) NULL,
      listing_complete TINYINT(1) NOT NULL DEFAULT 0,
      batches_total INT UNSIGNED NOT NULL DEFAULT 0,
      batches_done INT UNSIGNED NOT NULL DEFAULT 0,
      processed INT UNSIGNED NOT NULL DEFAULT 0,
      created INT UNSIGNED NOT NULL DEFAULT 0,
      updated INT UNSIGNED NOT NULL DEFAULT 0,
      unchanged INT UNSIGNED NOT NULL DEFAULT 0,
      adopted INT UNSIGNED NOT NULL DEFAULT 0,
      warnings INT UNSIGNED NOT NULL DEFAULT 0,
      failed INT UNSIGNED NOT NULL DEFAULT 0,
      marked INT UNSIGNED NOT NULL DEFAULT 0,
      deleted INT UNSIGNED NOT NULL DEFAULT 0,
      skipped INT UNSIGNED NOT NULL DEFAULT 0,
      error_type VARCHAR(32) NULL,
      error_message VARCHAR(1024) NULL,
      details LONGTEXT NULL,
      PRIMARY KEY (id),
      KEY IDX_runs_type_started (type, started_at),
      KEY IDX_runs_type_status_finished (type, status, finished_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE IF NOT EXISTS record_outcomes (
      id BIGINT NOT NULL AUTO_INCREMENT,
      run_id CHAR(36) NOT NULL,
      org_id BIGINT NOT NULL,
      outcome VARCHAR(16) NOT NULL,
      error_type VARCHAR(32) NULL,
      message VARCHAR(1024) NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      KEY IDX_outcomes_created_outcome (created_at, outcome),
      KEY IDX_outcomes_run_outcome (run_id, outcome),
      KEY IDX_outcomes_org_created (org_id, created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE IF NOT EXISTS check_results (
      id BIGINT NOT NULL AUTO_INCREMENT,
      check_name VARCHAR(64) NOT NULL,
      status VARCHAR(16) NOT NULL,
      message VARCHAR(1024) NOT NULL,
      details LONGTEXT NULL,
      duration_ms INT UNSIGNED NOT NULL DEFAULT 0,
      checked_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      KEY IDX_checks_name_time (check_name, checked_at),
      KEY IDX_checks_time (checked_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE IF NOT EXISTS alert_states (
      fingerprint VARCHAR(191) NOT NULL,
      state VARCHAR(16) NOT NULL,
      level VARCHAR(16) NOT NULL,
      script VARCHAR(16) NOT NULL,
      error_type VARCHAR(64) NOT NULL,
      message VARCHAR(2048) NOT NULL,
      details LONGTEXT NULL,
      first_fired_at DATETIME(3) NULL,
      last_fired_at DATETIME(3) NULL,
      last_notified_at DATETIME(3) NULL,
      resolved_at DATETIME(3) NULL,
      notify_count INT UNSIGNED NOT NULL DEFAULT 0,
      silenced_until DATETIME(3) NULL,
      silence_reason VARCHAR(255) NULL,
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (fingerprint),
      KEY IDX_alerts_state (state, updated_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['alert_states', 'check_results', 'record_outcomes', 'runs', 'organizations']) {
      await q.query(`DROP TABLE IF EXISTS ${t}`);
    }
  }
}
