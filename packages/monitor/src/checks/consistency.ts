import { targetSince } from '@pcs/sync/target';
import type { Condition } from '../alerts/decide.js';
import { API_ALERTS, type Check } from './check.js';

/** Apart by more than this many organizations and this share, the counts are a finding. */
export const CONSISTENCY_LIMITS = { minDiff: 10, share: 0.1, minSyncRate: 90 };

/**
 * consistency: the Pipedrive customer count of the last complete full listing against the
 * database (more than 10 % and more than 10 apart), and the share of database customers synced
 * (< 90 %), not counting the organizations a sync in progress is writing for the first time.
 */
export const consistencyCheck: Check = async ({ ds, runs, config }) => {
  const lastFull = await runs.lastCompleteListing(await targetSince(ds, config), { full: true });
  const pipedrive = Number((lastFull?.details as { customers?: number } | null)?.customers ?? NaN);
  // Organizations a sync in progress has just listed are not behind yet: its batches are writing them.
  const running = await runs.active('sync');
  const [row] = (await ds.query(
    `SELECT COUNT(*) AS customers, SUM(sync_state IN ('synced','warning')) AS synced FROM organizations
      WHERE is_customer = 1 AND is_deleted = 0${running ? ' AND created_at < ?' : ''}`,
    running ? [running.startedAt] : [],
  )) as { customers: string; synced: string | null }[];
  const customers = Number(row?.customers ?? 0);
  const synced = Number(row?.synced ?? 0);
  const syncRate = customers ? (synced / customers) * 100 : 100;
  const conditions: Condition[] = [];
  const parts = [`${synced} of ${customers} database customers synced (${syncRate.toFixed(1)}%)`];
  if (Number.isFinite(pipedrive)) {
    const diff = Math.abs(pipedrive - synced);
    parts.push(`Pipedrive listed ${pipedrive} customers at the last full sync`);
    if (diff > CONSISTENCY_LIMITS.minDiff && diff > pipedrive * CONSISTENCY_LIMITS.share) {
      conditions.push({
        fingerprint: 'monitor:consistency:count',
        script: 'monitor',
        level: 'WARNING',
        errorType: 'data mismatch',
        message: `Pipedrive has ${pipedrive} customer organizations, the database ${synced} synced: ${diff} apart`,
        details: { affected_count: diff, pipedrive, database: synced },
        inhibitedBy: API_ALERTS,
      });
    }
  }
  if (customers > 0 && syncRate < CONSISTENCY_LIMITS.minSyncRate) {
    conditions.push({
      fingerprint: 'monitor:consistency:sync-rate',
      script: 'monitor',
      level: 'WARNING',
      errorType: 'data mismatch',
      message: `Only ${syncRate.toFixed(1)}% of customer organizations are synced to Chatwoot (below ${CONSISTENCY_LIMITS.minSyncRate}%)`,
      details: { affected_count: customers - synced, sync_rate: `${syncRate.toFixed(1)}%` },
      inhibitedBy: API_ALERTS,
    });
  }
  return {
    status: conditions.length ? 'warning' : 'ok',
    message: parts.join('; '),
    details: {
      pipedriveCustomers: Number.isFinite(pipedrive) ? pipedrive : null,
      customers,
      synced,
      syncRate: Number(syncRate.toFixed(2)),
    },
    conditions,
  };
};
