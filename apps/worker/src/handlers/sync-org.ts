import { DelayedError } from 'bullmq';
import { handle, syncOrgJob, type HandlerEntry } from '@pcs/queues';
import { cleanupRunning, syncOne } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { rethrowForQueue, syncDeps } from './sync-deps.js';

/** sync-org: a targeted upsert of one organization (Pipedrive webhook); waits while a cleanup runs. */
export function syncOrgHandler(ctx: WorkerContext): HandlerEntry {
  return handle(syncOrgJob, async (payload, job) => {
    if (await cleanupRunning(ctx.ds)) {
      await job.moveToDelayed(Date.now() + 15_000, job.token);
      throw new DelayedError();
    }
    try {
      const result = await syncOne(syncDeps(ctx), payload.orgId, payload.trigger);
      ctx.loggers.get('sync').info({ ...result, event: payload.event }, 'targeted upsert done');
      return result;
    } catch (err) {
      return rethrowForQueue(ctx, err, { orgId: payload.orgId });
    }
  });
}
