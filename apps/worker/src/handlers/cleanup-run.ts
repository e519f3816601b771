import { DelayedError, UnrecoverableError } from 'bullmq';
import type { cleanupRunJob } from '@pcs/jobs';
import type { JobHandler } from '@pcs/queues';
import { beginCleanup, RunEndedError, RunFailedError, runCleanup, targetSince } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { jobReport } from './job-report.js';
import { rethrowForQueue } from './queue-errors.js';
import { runIdFor } from './sync-run.js';

/** How long a cleanup waits when a sync run is in progress (they never run at once). */
export const CLEANUP_RETRY_WHILE_SYNC_MS = 30_000;

/** cleanup-run: one guarded reconciliation; a refusal or failure raises an alert through the engine. */
export function cleanupRunHandler(ctx: WorkerContext): JobHandler<(typeof cleanupRunJob)['schema']> {
  return async (payload, job) => {
    const log = ctx.loggers.get('cleanup');
    const deps = { ...ctx.sync(), cleanupLog: log, report: jobReport(job) };
    const runId = payload.runId ?? runIdFor(job.id);
    const opts = {
      dryRun: payload.dryRun,
      force: payload.force,
      mergeDuplicates: payload.mergeDuplicates,
      trigger: payload.trigger,
      runId,
    };
    // A new installation's first scheduled cleanup would judge the old deployment's contacts
    // before the first sync has made ours (and, its share being large, refuse and alert). The
    // schedule waits for a complete sync of the current target; `manage cleanup` runs regardless.
    if (payload.trigger === 'schedule' && !(await ctx.runs.lastSuccessfulSync(await targetSince(ctx.ds, ctx.config)))) {
      log.info({ runId }, 'scheduled cleanup skipped: no sync has completed yet');
      return { skipped: true, runId, reason: 'no sync has completed yet' };
    }
    const started = await beginCleanup(deps, { ...opts, jobId: job.id });
    if (started.state === 'blocked') {
      log.info({ runId, syncRunId: started.run.id }, 'a sync run is in progress: cleanup waits');
      await job.moveToDelayed(Date.now() + CLEANUP_RETRY_WHILE_SYNC_MS, job.token);
      throw new DelayedError();
    }
    if (started.state === 'duplicate') return { skipped: true, runId, activeRunId: started.run.id };
    if (started.state === 'resumed' && started.run.status !== 'running')
      return { skipped: true, runId, status: started.run.status };
    try {
      const { affected: _affected, ...summary } = await runCleanup(deps, started.run, opts);
      return summary;
    } catch (err) {
      if (err instanceof RunEndedError) return { skipped: true, runId, ended: true };
      if (err instanceof RunFailedError) throw new UnrecoverableError(`${err.errorType}: ${err.message}`);
      return rethrowForQueue(ctx, job, err, { runId });
    }
  };
}
