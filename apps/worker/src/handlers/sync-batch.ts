import { RateLimitError, UnrecoverableError } from 'bullmq';
import { isApiError } from '@pcs/http';
import { handle, syncBatchJob, type HandlerEntry } from '@pcs/queues';
import { processBatch } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { syncDeps } from './sync-deps.js';

/**
 * sync-batch: upserts up to BATCH_SIZE organizations. A rate limit the client could not wait out
 * pauses the sync queue for every worker (BullMQ's rate limit in Redis) and puts the batch back
 * without spending an attempt; an auth failure fails it at once.
 */
export function syncBatchHandler(ctx: WorkerContext): HandlerEntry {
  return handle(syncBatchJob, async (payload) => {
    try {
      return await processBatch(syncDeps(ctx), payload);
    } catch (err) {
      if (isApiError(err, 'rate_limit')) {
        const wait = Math.max(1_000, err.retryAfterMs ?? 5_000);
        ctx.loggers.get('sync').warn({ runId: payload.runId, batch: payload.batch, api: err.api, waitMs: wait }, 'rate limited: batch goes back to the queue');
        await ctx.queues.sync.rateLimit(wait);
        throw new RateLimitError();
      }
      if (isApiError(err, 'auth') || isApiError(err, 'forbidden')) throw new UnrecoverableError(`auth issue: ${(err as Error).message}`);
      throw err;
    }
  });
}
