import { isApiError } from '@pcs/http';
import { handle, syncBatchJob, type HandlerEntry } from '@pcs/queues';
import { abandonBatch, processBatch } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { rethrowForQueue, syncDeps } from './sync-deps.js';

/** sync-batch: upserts up to BATCH_SIZE organizations of a run. */
export function syncBatchHandler(ctx: WorkerContext): HandlerEntry {
  return handle(syncBatchJob, async (payload, job) => {
    const deps = syncDeps(ctx);
    try {
      return await processBatch(deps, payload);
    } catch (err) {
      // A failure no retry can fix (auth), or the last attempt: the batch ends as failed, so
      // its run ends too instead of blocking every later run.
      const final =
        isApiError(err, 'auth') ||
        isApiError(err, 'forbidden') ||
        (!isApiError(err, 'rate_limit') && job.attemptsMade + 1 >= (job.opts.attempts ?? 1));
      if (final)
        await abandonBatch(deps, payload, err).catch((e: unknown) =>
          ctx.loggers.get('sync').error({ err: e }, 'could not record the failed batch'),
        );
      return rethrowForQueue(ctx, err, { runId: payload.runId, batch: payload.batch });
    }
  });
}
