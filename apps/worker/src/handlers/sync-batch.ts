import type { syncBatchJob } from '@pcs/jobs';
import { isKind } from '@pcs/errors';
import type { JobHandler } from '@pcs/queues';
import { abandonBatch, processBatch } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { jobReport } from './job-report.js';
import { rethrowForQueue } from './queue-errors.js';

/** sync-batch: upserts up to BATCH_SIZE organizations of a run. */
export function syncBatchHandler(ctx: WorkerContext): JobHandler<(typeof syncBatchJob)['schema']> {
  return async (payload, job) => {
    const deps = { ...ctx.sync(), report: jobReport(job) };
    try {
      return await processBatch(deps, payload);
    } catch (err) {
      // A failure no retry can fix (auth), or the last attempt: the batch ends as failed, so its
      // run ends too instead of blocking every later run. The database or Redis away past the
      // budget: nothing can be recorded now; the reaper ends the run once it answers again.
      const final =
        isKind(err, 'auth', 'forbidden') ||
        (!isKind(err, 'rate_limit', 'database', 'redis') && job.attemptsMade + 1 >= (job.opts.attempts ?? 1));
      if (final)
        await abandonBatch(deps, payload, err).catch((e: unknown) =>
          ctx.loggers
            .get('sync')
            .error({ err: e, runId: payload.runId, batch: payload.batch }, 'could not record the failed batch'),
        );
      return rethrowForQueue(ctx, job, err, { runId: payload.runId, batch: payload.batch });
    }
  };
}
