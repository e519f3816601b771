import { targetSince } from '@pcs/sync/target';
import type { Condition } from '../alerts/decide.js';
import type { Check } from './check.js';

/**
 * freshness: no successful sync for longer than MAX_SYNC_AGE_HOURS is critical (a stopped
 * scheduler or worker shows here, which the original deployment never noticed). Only runs of the
 * current Pipedrive and Chatwoot count: after an account switch, the clock starts over. A lost
 * scheduler is recreated by every worker's upkeep timer, not here (a scheduled check cannot
 * notice its own schedule is gone).
 */
export const freshnessCheck: Check = async ({ ds, runs, config }) => {
  const since = await targetSince(ds, config);
  const [{ lastSuccess, first }, now] = await Promise.all([runs.syncHistory(since), runs.now()]);
  const limitHours = config.thresholds.maxSyncAgeHours;
  const maxAgeMs = limitHours * 3_600_000;
  const conditions: Condition[] = [];
  let status: 'ok' | 'warning' | 'critical' = 'ok';
  let message: string;
  const finished = lastSuccess?.finishedAt;
  const ageHours = finished ? (now.getTime() - finished.getTime()) / 3_600_000 : undefined;
  if (finished && now.getTime() - finished.getTime() <= maxAgeMs) {
    message = `last successful sync ${ageHours!.toFixed(1)} h ago (limit ${limitHours} h)`;
  } else if (!finished && (!first || now.getTime() - first.startedAt.getTime() <= maxAgeMs)) {
    status = 'warning';
    message = first ? 'the first sync has not finished yet' : 'no sync has run yet';
  } else {
    status = 'critical';
    message = finished
      ? `no successful sync for ${ageHours!.toFixed(1)} h (limit ${limitHours} h): is a worker serving the sync queue?`
      : `no successful sync since the first run ${((now.getTime() - first!.startedAt.getTime()) / 3_600_000).toFixed(1)} h ago`;
    conditions.push({
      fingerprint: 'monitor:freshness',
      script: 'monitor',
      level: 'ERROR',
      errorType: 'system error',
      message,
      details: { last_success: finished?.toISOString() ?? null, max_sync_age_hours: limitHours },
    });
  }
  return { status, message, details: { lastSuccess: finished?.toISOString() ?? null }, conditions };
};
