import type { pruneHistoryJob } from '@pcs/jobs';
import type { JobHandler } from '@pcs/queues';
import { pruneHistory, targetSince, type PruneReport } from '@pcs/sync';
import type { WorkerContext } from '../context.js';

/**
 * prune-history: deletes history older than RETENTION_DAYS in chunks (docs/contract.md §3;
 * packages/sync/src/retention.ts). A worker stopping ends it between two chunks; a database
 * error fails the attempt (BullMQ retries it). Either way the next prune continues from what is left.
 */
export function pruneHistoryHandler(ctx: WorkerContext): JobHandler<(typeof pruneHistoryJob)['schema']> {
  return async (payload, job, signal): Promise<PruneReport> => {
    const log = ctx.loggers.get('worker');
    const report = await pruneHistory(ctx.ds, {
      retentionDays: ctx.config.retentionDays,
      since: await targetSince(ctx.ds, ctx.config),
      chunkSize: payload.chunkSize,
      maxChunks: payload.maxChunks,
      signal,
    });
    log.info(
      { jobId: job.id, trigger: payload.trigger, ...report },
      report.complete ? 'history pruned' : 'history prune stopped early: the next one continues',
    );
    return report;
  };
}
