import { handle, syncBatchJob, type HandlerEntry } from '@pcs/queues';
import { processBatch } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { rethrowForQueue, syncDeps } from './sync-deps.js';

/** sync-batch: upserts up to BATCH_SIZE organizations of a run. */
export function syncBatchHandler(ctx: WorkerContext): HandlerEntry {
  return handle(syncBatchJob, async (payload) => {
    try {
      return await processBatch(syncDeps(ctx), payload);
    } catch (err) {
      return rethrowForQueue(ctx, err, { runId: payload.runId, batch: payload.batch });
    }
  });
}
