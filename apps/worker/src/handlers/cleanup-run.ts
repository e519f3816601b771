import { DelayedError, UnrecoverableError } from 'bullmq';
import { In, MoreThanOrEqual, RunEntity } from '@pcs/db';
import { cleanupRunJob, handle, type HandlerEntry } from '@pcs/queues';
import { beginCleanup, ensureTarget, RunFailedError, runCleanup } from '@pcs/sync';
import type { WorkerContext } from '../context.js';
import { runIdFor, syncDeps } from './sync-deps.js';

/** How long a cleanup waits when a sync run is in progress (they never run at once). */
export const CLEANUP_RETRY_WHILE_SYNC_MS = 30_000;

/** A complete sync listing of the current target (a new account counts as a new installation). */
async function hasCompleteSync(ctx: WorkerContext): Promise<boolean> {
  const { since } = await ensureTarget(ctx.ds, ctx.config, ctx.loggers.get('cleanup'));
  const n = await ctx.ds.getRepository(RunEntity).countBy({
    type: 'sync',
    mode: In(['full', 'incremental']),
    listingComplete: true,
    listingStartedAt: MoreThanOrEqual(since),
    status: In(['succeeded', 'partial']),
  });
  return n > 0;
}

/** cleanup-run: one guarded reconciliation; a refusal or failure raises an alert through the rules (run-alerts). */
export function cleanupRunHandler(ctx: WorkerContext): HandlerEntry {
  return handle(cleanupRunJob, async (payload, job) => {
    const deps = { ...syncDeps(ctx), cleanupLog: ctx.loggers.get('cleanup') };
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
    // schedule waits for a complete sync; an operator's `manage cleanup` runs regardless.
    if (payload.trigger === 'schedule' && !(await hasCompleteSync(ctx))) {
      ctx.loggers.get('cleanup').info({ runId }, 'scheduled cleanup skipped: no sync has completed yet');
      return { skipped: true, runId, reason: 'no sync has completed yet' };
    }
    const started = await beginCleanup(deps, opts);
    if (started.state === 'blocked') {
      ctx.loggers.get('cleanup').info({ runId, syncRunId: started.run.id }, 'a sync run is in progress: cleanup waits');
      await job.moveToDelayed(Date.now() + CLEANUP_RETRY_WHILE_SYNC_MS, job.token);
      throw new DelayedError();
    }
    if (started.state === 'duplicate') return { skipped: true, runId, activeRunId: started.run.id };
    if (started.state === 'resumed' && started.run.status !== 'running')
      return { skipped: true, runId, status: started.run.status };
    try {
      const report = await runCleanup(deps, started.run, opts);
      const { affected: _affected, ...summary } = report;
      return summary;
    } catch (err) {
      if (err instanceof RunFailedError) throw new UnrecoverableError(`${err.errorType}: ${err.message}`);
      throw err;
    }
  });
}
