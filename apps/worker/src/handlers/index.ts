import type { HandlerEntry } from '@pcs/queues';
import type { WorkerContext } from '../context.js';
import { alertHandler } from './alert.js';
import { checkChatwootApiHandler, checkPipedriveApiHandler } from './check-apis.js';
import { checkFreshnessHandler } from './check-freshness.js';
import { checkQueuesHandler } from './check-queues.js';
import { checkConsistencyHandler, checkSyncStatusHandler } from './check-sync.js';
import { cleanupRunHandler } from './cleanup-run.js';
import { syncBatchHandler } from './sync-batch.js';
import { syncOrgHandler } from './sync-org.js';
import { syncRunHandler } from './sync-run.js';

/**
 * The handlers this version implements, one file per job. Jobs of the registry without a
 * handler here are not scheduled by this worker (see syncSchedulers in worker.ts).
 */
export function createHandlers(ctx: WorkerContext): HandlerEntry[] {
  const entries: HandlerEntry[] = [];
  const implemented = () => new Set(entries.map((e) => `${e.definition.queue}/${e.definition.name}`));
  entries.push(checkFreshnessHandler(ctx, implemented));
  entries.push(
    syncRunHandler(ctx),
    syncBatchHandler(ctx),
    syncOrgHandler(ctx),
    cleanupRunHandler(ctx),
    checkQueuesHandler(ctx),
    checkPipedriveApiHandler(ctx),
    checkChatwootApiHandler(ctx),
    checkSyncStatusHandler(ctx),
    checkConsistencyHandler(ctx),
    alertHandler(ctx),
  );
  return entries;
}
