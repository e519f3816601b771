import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Counters of the deployment's work (docs/contract.md §4: `pcs_sync_runs_total`,
 * `pcs_sync_records_total`, `pcs_alerts_sent_total`, and `pcs_cleanup_runs_total`), kept as they
 * happen by the owner of each (packages/sync/src/runs/counters.ts), so /metrics reads a handful of
 * rows and pruning old runs (RETENTION_DAYS) never lowers a counter. `labels` is the label set as
 * `key=value,key=value` in the metric's label order.
 *
 * Every series starts at zero (rows exist before the first increment, so concurrent increments
 * only ever update a row: no insert races), then the runs and outcomes present are counted in
 * (ended runs by mode and status; sync outcomes by outcome), so a deployment keeps its history.
 * Alerts sent were never recorded by delivery: they start at zero.
 */
export class MetricCounters1764800000000 implements MigrationInterface {
  name = 'MetricCounters1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS metric_counters (
      name VARCHAR(64) NOT NULL,
      labels VARCHAR(191) NOT NULL,
      value BIGINT UNSIGNED NOT NULL DEFAULT 0,
      PRIMARY KEY (name, labels)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    const series: [string, string][] = [];
    for (const mode of ['full', 'incremental', 'targeted'])
      for (const status of ['succeeded', 'partial', 'failed'])
        series.push(['pcs_sync_runs_total', `mode=${mode},status=${status}`]);
    for (const outcome of ['created', 'updated', 'adopted', 'unchanged', 'warning', 'failed'])
      series.push(['pcs_sync_records_total', `outcome=${outcome}`]);
    for (const mode of ['mark', 'delete', 'dry-run'])
      for (const status of ['succeeded', 'partial', 'failed', 'refused'])
        series.push(['pcs_cleanup_runs_total', `mode=${mode},status=${status}`]);
    for (const level of ['ERROR', 'WARNING', 'INFO'])
      for (const state of ['firing', 'resolved'])
        series.push(['pcs_alerts_sent_total', `level=${level},state=${state}`]);
    await q.query(
      `INSERT IGNORE INTO metric_counters (name, labels, value) VALUES ${series.map(() => '(?, ?, 0)').join(', ')}`,
      series.flat(),
    );

    // The history present. `= VALUES(value)`: a migration run again after a crash counts it once.
    await q.query(`INSERT INTO metric_counters (name, labels, value)
      SELECT 'pcs_sync_runs_total', CONCAT('mode=', IF(mode = 'webhook', 'targeted', mode), ',status=', status), COUNT(*)
      FROM runs WHERE type = 'sync' AND status IN ('succeeded', 'partial', 'failed')
      GROUP BY IF(mode = 'webhook', 'targeted', mode), status
      ON DUPLICATE KEY UPDATE value = VALUES(value)`);
    await q.query(`INSERT INTO metric_counters (name, labels, value)
      SELECT 'pcs_cleanup_runs_total', CONCAT('mode=', mode, ',status=', status), COUNT(*)
      FROM runs WHERE type = 'cleanup' AND status IN ('succeeded', 'partial', 'failed', 'refused')
      GROUP BY mode, status
      ON DUPLICATE KEY UPDATE value = VALUES(value)`);
    // One outcome per record (a record written with a value left off is a `warning`), read from
    // the (run_id, outcome) index of the outcomes of sync runs.
    await q.query(`INSERT INTO metric_counters (name, labels, value)
      SELECT 'pcs_sync_records_total', CONCAT('outcome=', o.outcome), COUNT(*)
      FROM runs r JOIN record_outcomes o ON o.run_id = r.id
      WHERE r.type = 'sync' AND o.outcome IN ('created', 'updated', 'adopted', 'unchanged', 'warning', 'failed')
      GROUP BY o.outcome
      ON DUPLICATE KEY UPDATE value = VALUES(value)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS metric_counters');
  }
}
