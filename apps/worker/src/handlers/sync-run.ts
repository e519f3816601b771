import { DelayedError, UnrecoverableError } from 'bullmq';
import { createHash } from 'node:crypto';
import type { syncRunJob } from '@pcs/jobs';
import type { JobHandler } from '@pcs/queues';
import { beginSync, listRun, RunEndedError, RunFailedError } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { jobReport } from './job-report.js';
import { rethrowForQueue } from './queue-errors.js';

/** How long a sync waits when a cleanup is in progress (they never run at once). */
export const SYNC_RETRY_WHILE_CLEANUP_MS = 60_000;

/** A run id derived from the job id, so a scheduled job retried or resumed after a crash continues the same run. */
export function runIdFor(jobId: string | undefined): string {
  const h = createHash('sha1')
    .update(`run:${jobId ?? Math.random()}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** sync-run: begins (or resumes) a run and streams its listing into upsert batches. */
export function syncRunHandler(ctx: WorkerContext): JobHandler<(typeof syncRunJob)['schema']> {
  return async (payload, job) => {
    const deps = { ...ctx.sync(), report: jobReport(job) };
    const runId = payload.runId ?? runIdFor(job.id);
    const { go, result } = await beginSync(deps, {
      mode: payload.mode,
      trigger: payload.trigger,
      runId,
      jobId: job.id,
      dryRun: payload.dryRun,
    });
    if (result.state === 'blocked') {
      deps.log.info({ runId, cleanupRunId: result.run.id }, 'a cleanup run is in progress: sync waits');
      await job.moveToDelayed(Date.now() + SYNC_RETRY_WHILE_CLEANUP_MS, job.token);
      throw new DelayedError();
    }
    if (!go) {
      deps.log.info({ runId, activeRunId: result.run.id }, 'a sync run is already in progress: this one is skipped');
      return { skipped: true, runId, activeRunId: result.run.id };
    }
    try {
      await listRun(deps, result.run);
    } catch (err) {
      if (err instanceof RunEndedError) return { skipped: true, runId, ended: true };
      // The run is recorded as failed; the next schedule tries again. No blind retry of a broken listing.
      if (err instanceof RunFailedError) throw new UnrecoverableError(`${err.errorType}: ${err.message}`);
      return rethrowForQueue(ctx, job, err, { runId });
    }
    return { skipped: false, runId };
  };
}
