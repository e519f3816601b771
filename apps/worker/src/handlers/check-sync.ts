import { In, RunEntity } from '@pcs/db';
import type { Condition } from '@pcs/monitor';
import { checkJobs, handle, type HandlerEntry } from '@pcs/queues';
import type { WorkerContext } from '../context.js';
import { recordCheck, type CheckOutcome } from './check-record.js';

/** Conditions that an API being down explains: they stay quiet while that API alert fires. */
const API_ALERTS = ['monitor:pipedrive-api', 'monitor:chatwoot-api'];
/** Failed sync runs in a row that make an alert. */
export const CONSECUTIVE_FAILED_RUNS = 3;

type Level = CheckOutcome['status'];
const worst = (a: Level, b: Level): Level =>
  a === 'critical' || b === 'critical' ? 'critical' : a === 'warning' || b === 'warning' ? 'warning' : 'ok';

/**
 * sync-status: unsynced customer organizations, stale ones (unsynced longer than
 * MAX_SYNC_AGE_HOURS), the error rate of sync operations in the last 24 h against
 * ALERT_ERROR_THRESHOLD, and failed runs in a row (really consecutive: the newest runs).
 */
export function checkSyncStatusHandler(ctx: WorkerContext): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'sync-status')!;
  return handle(def, async () =>
    recordCheck(ctx, 'sync-status', async () => {
      const { ds, config } = ctx;
      const maxAgeHours = config.thresholds.maxSyncAgeHours;
      const [unsyncedRow] = (await ds.query(
        `SELECT SUM(sync_state IN ('pending','failed')) AS unsynced,
                SUM(sync_state IN ('pending','failed') AND created_at < NOW(3) - INTERVAL ? SECOND) AS stale
           FROM organizations WHERE is_customer = 1 AND is_deleted = 0`,
        [Math.round(maxAgeHours * 3600)],
      )) as { unsynced: string | null; stale: string | null }[];
      const unsynced = Number(unsyncedRow?.unsynced ?? 0);
      const stale = Number(unsyncedRow?.stale ?? 0);
      const [rateRow] = (await ds.query(
        `SELECT COUNT(*) AS total, SUM(o.outcome = 'failed') AS failed FROM record_outcomes o JOIN runs r ON r.id = o.run_id
          WHERE r.type = 'sync' AND o.created_at >= NOW(3) - INTERVAL 1 DAY`,
      )) as { total: string; failed: string | null }[];
      const total = Number(rateRow?.total ?? 0);
      const failed = Number(rateRow?.failed ?? 0);
      const errorRate = total ? (failed / total) * 100 : 0;
      const recent = await ds.getRepository(RunEntity).find({
        where: { type: 'sync', mode: In(['full', 'incremental']), status: In(['succeeded', 'partial', 'failed']) },
        order: { startedAt: 'DESC' },
        take: CONSECUTIVE_FAILED_RUNS,
      });
      const consecutive = recent.length === CONSECUTIVE_FAILED_RUNS && recent.every((r) => r.status === 'failed');

      const conditions: Condition[] = [];
      let status: Level = 'ok';
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
    }),
  );
}

/**
 * consistency: the Pipedrive customer count of the last complete listing against the database
 * (more than 10 % and more than 10 apart), and the share of database customers synced (< 90 %).
 */
export function checkConsistencyHandler(ctx: WorkerContext): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'consistency')!;
  return handle(def, async () =>
    recordCheck(ctx, 'consistency', async () => {
      const { ds } = ctx;
      const lastFull = await ds.getRepository(RunEntity).findOne({
        where: { type: 'sync', mode: 'full', listingComplete: true, status: In(['succeeded', 'partial']) },
        order: { finishedAt: 'DESC' },
      });
      const pipedrive = Number((lastFull?.details as { customers?: number } | null)?.customers ?? NaN);
      const [row] = (await ds.query(
        `SELECT COUNT(*) AS customers, SUM(sync_state IN ('synced','warning')) AS synced FROM organizations WHERE is_customer = 1 AND is_deleted = 0`,
      )) as { customers: string; synced: string | null }[];
      const customers = Number(row?.customers ?? 0);
      const synced = Number(row?.synced ?? 0);
      const syncRate = customers ? (synced / customers) * 100 : 100;
      const conditions: Condition[] = [];
      const parts = [`${synced} of ${customers} database customers synced (${syncRate.toFixed(1)}%)`];
      if (Number.isFinite(pipedrive)) {
        const diff = Math.abs(pipedrive - synced);
        parts.push(`Pipedrive listed ${pipedrive} customers at the last full sync`);
        if (diff > 10 && diff > pipedrive * 0.1) {
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
      if (customers > 0 && syncRate < 90) {
        conditions.push({
          fingerprint: 'monitor:consistency:sync-rate',
          script: 'monitor',
          level: 'WARNING',
          errorType: 'data mismatch',
          message: `Only ${syncRate.toFixed(1)}% of customer organizations are synced to Chatwoot (below 90%)`,
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
    }),
  );
}
