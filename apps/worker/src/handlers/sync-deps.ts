import { createHash } from 'node:crypto';
import { RateLimitError, UnrecoverableError } from 'bullmq';
import { isApiError } from '@pcs/http';
import { enqueue, syncBatchJob } from '@pcs/queues';
import type { SyncDeps } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { runAlertsListener } from '../run-alerts.js';

/**
 * BullMQ runs jobs without a priority first, then prioritized ones by number. Batches get a low
 * priority, webhook upserts a high one, so a Pipedrive event does not wait behind a big run.
 */
export const BATCH_PRIORITY = 100;

/** The sync domain's dependencies, from the worker's context. */
export function syncDeps(ctx: WorkerContext): SyncDeps {
  const apis = ctx.apis();
  return {
    config: ctx.config,
    ds: ctx.ds,
    redis: ctx.redis,
    pipedrive: apis.pipedrive,
    chatwoot: apis.chatwoot,
    log: ctx.loggers.get('sync'),
    // Deterministic job ids: a listing resumed after a crash re-adds the same batches, which BullMQ ignores.
    onRunEnded: runAlertsListener(ctx),
    enqueueBatch: (data) =>
      enqueue(ctx.queues, syncBatchJob, data, { jobId: `batch-${data.runId}-${data.batch}`, priority: BATCH_PRIORITY }),
  };
}

/** A run id derived from the job id, so a scheduled job retried or resumed after a crash continues the same run. */
export function runIdFor(jobId: string | undefined): string {
  const h = createHash('sha1')
    .update(`run:${jobId ?? Math.random()}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * What a sync job does with an API error it could not absorb: a rate limit pauses the sync queue
 * for every worker (BullMQ's rate limit in Redis) and puts the job back without spending an
 * attempt; an auth or permission failure fails it at once; anything else is retried with backoff.
 */
export async function rethrowForQueue(ctx: WorkerContext, err: unknown, what: Record<string, unknown>): Promise<never> {
  if (isApiError(err, 'rate_limit')) {
    const wait = Math.max(1_000, err.retryAfterMs ?? 5_000);
    ctx.loggers
      .get('sync')
      .warn({ ...what, api: err.api, waitMs: wait }, 'rate limited: the job goes back to the queue');
    await ctx.queues.sync.rateLimit(wait);
    throw new RateLimitError();
  }
  if (isApiError(err, 'auth') || isApiError(err, 'forbidden'))
    throw new UnrecoverableError(`auth issue: ${(err as Error).message}`);
  throw err;
}
