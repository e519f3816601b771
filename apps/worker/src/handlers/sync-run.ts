import { DelayedError, UnrecoverableError } from 'bullmq';
import { handle, syncRunJob, type HandlerEntry } from '@pcs/queues';
import { beginRun, listRun, RunFailedError } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { runIdFor, syncDeps } from './sync-deps.js';

/** sync-run: starts (or resumes) a run and streams its listing into upsert batches. */
export function syncRunHandler(ctx: WorkerContext): HandlerEntry {
  return handle(syncRunJob, async (payload, job) => {
    const deps = syncDeps(ctx);
    const runId = payload.runId ?? runIdFor(job.id);
    const started = await beginRun(deps, { mode: payload.mode, trigger: payload.trigger, runId });
    if (started.blocked) {
      // A cleanup is running: sync and cleanup never run at once. Try again in a minute.
      deps.log.info({ runId, cleanupRunId: started.run.id }, 'a cleanup run is in progress: sync waits');
      await job.moveToDelayed(Date.now() + 60_000, job.token);
      throw new DelayedError();
    }
    if (started.skipped) {
      deps.log.info({ runId, activeRunId: started.run.id }, 'a sync run is already in progress: this one is skipped');
      return { skipped: true, runId, activeRunId: started.run.id };
    }
    try {
      await listRun(deps, started.run);
    } catch (err) {
      // The run is recorded as failed; the next schedule tries again. No blind retry of a broken listing.
      if (err instanceof RunFailedError) throw new UnrecoverableError(`${err.errorType}: ${err.message}`);
      throw err;
    }
    return { skipped: false, runId };
  });
}
