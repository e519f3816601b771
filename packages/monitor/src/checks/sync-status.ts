import type { Condition } from '../alerts/decide.js';
import { API_ALERTS, worst, type Check } from './check.js';

/** Failed sync runs in a row that make an alert. */
export const CONSECUTIVE_FAILED_RUNS = 3;

/**
 * sync-status: unsynced customer organizations, stale ones (unsynced longer than
 * MAX_SYNC_AGE_HOURS), the error rate of sync operations in the last 24 h against
 * ALERT_ERROR_THRESHOLD, and failed runs in a row (really consecutive: the newest runs).
 */
export const syncStatusCheck: Check = async ({ ds, config, runs }) => {
  const maxAgeHours = config.thresholds.maxSyncAgeHours;
  const [unsyncedRow] = (await ds.query(
    `SELECT SUM(sync_state IN ('pending','failed')) AS unsynced,
            SUM(sync_state IN ('pending','failed') AND created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) AS stale
       FROM organizations WHERE is_customer = 1 AND is_deleted = 0`,
    [Math.round(maxAgeHours * 3600)],
  )) as { unsynced: string | null; stale: string | null }[];
  const unsynced = Number(unsyncedRow?.unsynced ?? 0);
  const stale = Number(unsyncedRow?.stale ?? 0);
  const [rateRow] = (await ds.query(
    `SELECT COUNT(*) AS total, SUM(o.outcome = 'failed') AS failed FROM record_outcomes o JOIN runs r ON r.id = o.run_id
      WHERE r.type = 'sync' AND o.created_at >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY`,
  )) as { total: string; failed: string | null }[];
  const total = Number(rateRow?.total ?? 0);
  const failed = Number(rateRow?.failed ?? 0);
  const errorRate = total ? (failed / total) * 100 : 0;
  const recent = await runs.recentEndedSyncs(CONSECUTIVE_FAILED_RUNS);
  const consecutive = recent.length === CONSECUTIVE_FAILED_RUNS && recent.every((r) => r.status === 'failed');

  const conditions: Condition[] = [];
  let status: 'ok' | 'warning' | 'critical' = 'ok';
  const parts: string[] = [
    `${unsynced} unsynced customer organizations (${stale} for more than ${maxAgeHours} h)`,
    `error rate ${errorRate.toFixed(1)}% of ${total} operations in 24 h`,
  ];
  if (stale > 0) {
    status = worst(status, 'warning');
    conditions.push({
      fingerprint: 'monitor:sync-status:stale',
      script: 'monitor',
      level: 'WARNING',
      errorType: 'data mismatch',
      message: `${stale} customer organizations unsynced for more than ${maxAgeHours} h`,
      details: { affected_count: stale, unsynced },
      inhibitedBy: API_ALERTS,
    });
  }
  if (total > 0 && errorRate > config.thresholds.alertErrorPercent) {
    status = worst(status, 'warning');
    conditions.push({
      fingerprint: 'monitor:sync-status:error-rate',
      script: 'monitor',
      level: 'WARNING',
      errorType: 'high error rate',
      message: `${errorRate.toFixed(1)}% of sync operations failed in the last 24 h (threshold ${config.thresholds.alertErrorPercent}%)`,
      details: { affected_count: failed, error_rate: `${errorRate.toFixed(1)}%` },
      inhibitedBy: API_ALERTS,
    });
  }
  if (consecutive) {
    status = 'critical';
    parts.push(`${CONSECUTIVE_FAILED_RUNS} sync runs failed in a row`);
    conditions.push({
      fingerprint: 'monitor:sync-status:consecutive',
      script: 'monitor',
      level: 'ERROR',
      errorType: 'system error',
      message: `The last ${CONSECUTIVE_FAILED_RUNS} sync runs failed: ${recent[0]!.errorMessage ?? recent[0]!.errorType ?? ''}`,
      details: { runs: recent.map((r) => r.id), error_type: recent[0]!.errorType },
    });
  }
  return {
    status,
    message: parts.join('; '),
    details: {
      unsynced,
      stale,
      errorRate: Number(errorRate.toFixed(2)),
      operations24h: total,
      failed24h: failed,
      consecutiveFailed: consecutive,
    },
    conditions,
  };
};
