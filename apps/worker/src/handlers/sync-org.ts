import { DelayedError } from 'bullmq';
import type { syncOrgJob } from '@pcs/jobs';
import type { JobHandler } from '@pcs/queues';
import { syncOne } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { jobReport } from './job-report.js';
import { rethrowForQueue } from './queue-errors.js';

/** How long a targeted upsert waits while a cleanup runs. */
export const ORG_RETRY_WHILE_CLEANUP_MS = 15_000;

/**
 * sync-org: a targeted upsert of one organization (Pipedrive webhook, or `manage sync --org` with
 * `force`: written whatever its hash, docs/contract.md §2); waits while a cleanup runs.
 */
export function syncOrgHandler(ctx: WorkerContext): JobHandler<(typeof syncOrgJob)['schema']> {
  return async (payload, job) => {
    if (await ctx.runs.isRunning('cleanup')) {
      await job.moveToDelayed(Date.now() + ORG_RETRY_WHILE_CLEANUP_MS, job.token);
      throw new DelayedError();
    }
    try {
      const result = await syncOne({ ...ctx.sync(), report: jobReport(job) }, payload.orgId, payload.trigger, job.id, {
        force: payload.force,
      });
      ctx.loggers.get('sync').info({ ...result, event: payload.event, force: payload.force }, 'targeted upsert done');
      return result;
    } catch (err) {
      return rethrowForQueue(ctx, job, err, { orgId: payload.orgId });
    }
  };
}
