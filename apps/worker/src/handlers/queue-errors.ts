import { RateLimitError, UnrecoverableError, type Job } from 'bullmq';
import { describeError, isKind } from '@pcs/errors';
import { isApiError } from '@pcs/http';
import type { QueueName } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

/**
 * What a sync job does with an error it could not absorb, by its kind: a rate limit pauses the
 * sync queue for every worker (BullMQ's rate limit in Redis) and puts the job back without
 * spending an attempt; an auth or permission failure fails it at once; the database or Redis away
 * past the retry budget fails it at once (the budget is spent; the reaper ends its run); anything
 * else is retried with backoff. A job failing for good records its typed failure in its progress,
 * where the reaper reads it.
 */
export async function rethrowForQueue(
  ctx: WorkerContext,
  job: Job,
  err: unknown,
  what: Record<string, unknown>,
): Promise<never> {
  if (isApiError(err, 'rate_limit')) {
    const wait = Math.max(1_000, err.retryAfterMs ?? 5_000);
    ctx.loggers
      .get(job.queueName === 'cleanup' ? 'cleanup' : 'sync')
      .warn({ ...what, api: err.api, waitMs: wait }, 'rate limited: the job goes back to the queue');
    await ctx.queues[job.queueName as QueueName].rateLimit(wait);
    throw new RateLimitError();
  }
  const failure = describeError(err);
  const final =
    isKind(err, 'auth', 'forbidden', 'database', 'redis', 'config', 'bad_data') ||
    job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (!final) throw err;
  await recordFailure(job, failure);
  throw new UnrecoverableError(`${failure.kind}: ${failure.message}`);
}

/** Keeps a job's typed failure with it (the reaper tells a run's failure from its jobs). */
export async function recordFailure(job: Job, failure: ReturnType<typeof describeError>): Promise<void> {
  const progress = job.progress && typeof job.progress === 'object' ? job.progress : {};
  await job.updateProgress({ ...progress, failure }).catch(() => undefined);
}
