import { DelayedError, RateLimitError, UnrecoverableError } from 'bullmq';
import { isApiError } from '@pcs/http';
import { handle, syncOrgJob, type HandlerEntry } from '@pcs/queues';
import { cleanupRunning, syncOne } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { syncDeps } from './sync-deps.js';

/** sync-org: a targeted upsert of one organization (Pipedrive webhook). */
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
      if (isApiError(err, 'rate_limit')) {
        await ctx.queues.sync.rateLimit(Math.max(1_000, err.retryAfterMs ?? 5_000));
        throw new RateLimitError();
      }
      if (isApiError(err, 'auth') || isApiError(err, 'forbidden')) throw new UnrecoverableError(`auth issue: ${(err as Error).message}`);
      throw err;
    }
  });
}
