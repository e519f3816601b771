import type { Run } from '@pcs/db';
import type { SyncDeps } from './deps.js';
import { isDryRun } from './details.js';

/**
 * What follows the end of a run, for the one caller that ended it: the summary line, the
 * HEALTHCHECK_PING_URL ping (a listing run that succeeded or was partial), and the alert listener.
 * The run is marked `alerts_done` once the listener has run; a crash in between leaves it for the
 * worker's sweep (see apps/worker/src/upkeep.ts), which evaluates it again.
 */
export async function runEnded(
  deps: Pick<SyncDeps, 'config' | 'log' | 'runs' | 'onRunEnded'>,
  run: Run | undefined,
): Promise<void> {
  if (!run) return;
  // A dry run (docs/contract.md §2) is no sync: no healthcheck ping, no alert raised or resolved.
  if (run.type === 'sync' && isDryRun(run)) {
    deps.log.info(
      { runId: run.id, status: run.status, created: run.created, updated: run.updated, adopted: run.adopted },
      `dry run ${run.status}: nothing written`,
    );
    await evaluateRunAlerts(deps, run);
    return;
  }
  if (run.type === 'sync' && (run.status === 'succeeded' || run.status === 'partial')) {
    deps.log.info(
      {
        runId: run.id,
        status: run.status,
        mode: run.mode,
        processed: run.processed,
        created: run.created,
        updated: run.updated,
        unchanged: run.unchanged,
        adopted: run.adopted,
        warnings: run.warnings,
        failed: run.failed,
        durationMs: run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : undefined,
      },
      `sync run ${run.status}`,
    );
    if (run.mode !== 'webhook') await pingHealthcheck(deps, run);
  }
  await evaluateRunAlerts(deps, run);
}

/** Runs the alert listener for an ended run and records that it did; a failing listener never fails the run. */
export async function evaluateRunAlerts(deps: Pick<SyncDeps, 'log' | 'runs' | 'onRunEnded'>, run: Run): Promise<void> {
  try {
    if (!(run.type === 'sync' && isDryRun(run))) await deps.onRunEnded?.(run);
    await deps.runs.markAlertsDone(run.id);
  } catch (err) {
    deps.log.error(
      { err, runId: run.id },
      'could not evaluate the alerts of an ended run: the worker sweep tries again',
    );
  }
}

async function pingHealthcheck(deps: Pick<SyncDeps, 'config' | 'log'>, run: Run): Promise<void> {
  const url = deps.config.alerts.healthcheckPingUrl;
  if (!url) return;
  try {
    const res = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) deps.log.warn({ status: res.status, runId: run.id }, 'healthcheck ping answered with an error');
  } catch (err) {
    deps.log.warn({ err, runId: run.id }, 'healthcheck ping failed');
  }
}
