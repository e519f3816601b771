import type { Run } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import type { SyncDeps } from './deps.js';
import { evaluateRunAlerts, runEnded } from './ended.js';
import type { RunFailure } from './runs/index.js';

/**
 * What the queue says of a run whose lease ran out: still in hand (a job of it waits, runs or will
 * be retried), or lost, with why (its jobs are gone: Redis lost its data; failed for good: out of
 * attempts, killed twice, the database gone past the retry budget).
 */
export type Liveness = { alive: true } | { alive: false; failure: RunFailure };

/** Looks at a run's BullMQ jobs (the worker knows the queues; see apps/worker/src/upkeep.ts). */
export type RunInspector = (run: Run) => Promise<Liveness>;

export interface ReapResult {
  runId: string;
  outcome: 'finished' | 'failed' | 'alive';
  reason?: string;
}

/**
 * Ends the runs that can no longer end by themselves (docs/contract.md §6a): for every running run
 * whose lease ran out, a sync run whose batches have all ended but that never finished (a crash
 * between its last commit and its end) is finished; a run whose jobs are lost is failed with the reason, guarded
 * by the lease it was seen with, so a run that moved meanwhile is left alone.
 */
export async function reapRuns(
  deps: Pick<SyncDeps, 'runs' | 'config' | 'log' | 'onRunEnded'>,
  inspect: RunInspector,
): Promise<ReapResult[]> {
  const out: ReapResult[] = [];
  for (const run of await deps.runs.expired()) {
    // Only a sync listing run is done when its batches are: a cleanup or a targeted upsert is
    // "listed" from its start and ends in its own job, which the inspector looks at.
    const listing = run.type === 'sync' && run.mode !== 'webhook';
    if (listing && run.listingComplete && run.batchesDone >= run.batchesTotal) {
      const finished = await deps.runs.finishIfDone(run.id);
      if (finished) {
        await runEnded(deps, finished);
        out.push({ runId: run.id, outcome: 'finished' });
        continue;
      }
    }
    const live = await inspect(run);
    if (live.alive) {
      out.push({ runId: run.id, outcome: 'alive' });
      continue;
    }
    const failed = await deps.runs.fail(run.id, live.failure, { ifLease: run.leaseUntil });
    if (!failed) continue;
    deps.log.error(
      { runId: run.id, type: run.type, mode: run.mode, errorKind: live.failure.kind, reason: live.failure.message },
      `run ended by the reaper: ${live.failure.message}`,
    );
    await runEnded(deps, failed);
    out.push({ runId: run.id, outcome: 'failed', reason: live.failure.message });
  }
  return out;
}

/** Evaluates the alerts of ended runs whose evaluation was lost (a crash right after the end). */
export async function sweepRunAlerts(deps: Pick<SyncDeps, 'runs' | 'onRunEnded'> & { log: Logger }): Promise<number> {
  const pending = await deps.runs.awaitingAlerts();
  for (const run of pending) await evaluateRunAlerts(deps, run);
  return pending.length;
}
