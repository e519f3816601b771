import { randomUUID } from 'node:crypto';
import { Not, RunEntity, type DataSource, type Run, type RunType } from '@pcs/db';

/**
 * Sync runs and cleanup runs never overlap, and there is one of each at a time per deployment,
 * however many workers: a run starts only under a MySQL named lock, after checking the runs table.
 */

/** A run still "running" without an end for this long is abandoned, so a new one can start. */
export const STALE_RUN_MS = 6 * 3_600_000;

export async function withNamedLock<T>(ds: DataSource, name: string, fn: () => Promise<T>): Promise<T> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    const rows = (await runner.query('SELECT GET_LOCK(?, 30) AS got', [name])) as { got: number | null }[];
    if (Number(rows[0]?.got) !== 1) throw new Error(`could not take lock ${name}`);
    try {
      return await fn();
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

export type BeginResult =
  /** This run may go on. */
  | { state: 'started'; run: Run }
  /** The same run id exists already (a retried or resumed job). */
  | { state: 'resumed'; run: Run }
  /** Another run of the same type is in progress. */
  | { state: 'duplicate'; run: Run }
  /** A run of the other type is in progress: try again later. */
  | { state: 'blocked'; run: Run };

const OTHER: Record<RunType, RunType> = { sync: 'cleanup', cleanup: 'sync' };

/** Runs that count for exclusion: webhook upserts (one organization each) do not. */
async function activeRun(ds: DataSource, type: RunType, now: Date): Promise<Run | undefined> {
  const runs = ds.getRepository(RunEntity);
  const active = await runs.findOne({
    where: { type, status: 'running', mode: Not('webhook') },
    order: { startedAt: 'DESC' },
  });
  if (!active) return undefined;
  if (now.getTime() - active.startedAt.getTime() < STALE_RUN_MS) return active;
  await runs.update(
    { id: active.id, status: 'running' },
    { status: 'failed', finishedAt: now, errorType: 'system error', errorMessage: 'abandoned: no end after 6 hours' },
  );
  return undefined;
}

export async function beginExclusiveRun(
  ds: DataSource,
  database: string,
  init: { type: RunType; mode: string; trigger: string; runId?: string; details?: Record<string, unknown> },
  now = new Date(),
): Promise<BeginResult> {
  const runs = ds.getRepository(RunEntity);
  return withNamedLock(ds, `pcs_runs_${database}`.slice(0, 64), async () => {
    if (init.runId) {
      const same = await runs.findOneBy({ id: init.runId });
      if (same) return { state: 'resumed', run: same };
    }
    const sameType = await activeRun(ds, init.type, now);
    if (sameType) return { state: 'duplicate', run: sameType };
    const other = await activeRun(ds, OTHER[init.type], now);
    if (other) return { state: 'blocked', run: other };
    const run = runs.create({
      id: init.runId ?? randomUUID(),
      type: init.type,
      mode: init.mode,
      trigger: init.trigger,
      status: 'running',
      startedAt: now,
      details: init.details ?? null,
    });
    await runs.save(run);
    return { state: 'started', run };
  });
}

/** Whether a cleanup run is in progress (targeted upserts wait for it). */
export async function cleanupRunning(ds: DataSource, now = new Date()): Promise<boolean> {
  return Boolean(await activeRun(ds, 'cleanup', now));
}
