import type { Cluster, Redis } from 'ioredis';
import type { ChatwootClient } from '@pcs/chatwoot';
import type { Config } from '@pcs/config';
import { withDatabaseRetry, type DataSource, type Run } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import type { PipedriveClient } from '@pcs/pipedrive';
import type { Runs } from './runs/index.js';

/** What the sync and cleanup use cases need, given by the worker (or a test). */
export interface SyncDeps {
  config: Config;
  ds: DataSource;
  /** The owner of run state: every run transition goes through it. */
  runs: Runs;
  pipedrive: PipedriveClient;
  chatwoot: ChatwootClient;
  redis: Redis | Cluster;
  log: Logger;
  /** Queues one upsert batch of a run (idempotent: a batch's job id comes from its run and number). */
  enqueueBatch: (data: { runId: string; batch: number; orgIds: number[] }) => Promise<unknown>;
  /** How long a step keeps trying while the database or Redis is away before the run gives up. */
  retryBudgetMs: number;
  /** The cleanup.log channel (every change a line); the main log when absent. */
  cleanupLog?: Logger;
  /** Told when a run ends (succeeded, partial, failed, refused): the alert engine listens here. */
  onRunEnded?: (run: Run) => Promise<void>;
  /** What the job at hand shows its operator (Bull Board's progress and log); absent outside a job. */
  report?: JobReport;
}

/**
 * Where a job tells an operator what it is doing (the worker writes it as the BullMQ job's
 * progress and log lines, which Bull Board shows). Best effort: the sink bounds and swallows its
 * own failures, and the calls below swallow anything left, so a Redis hiccup never fails a run.
 */
export interface JobReport {
  /** Fields merged into the job's progress. */
  progress(p: Record<string, unknown>): Promise<void>;
  /** One line of the job's log. */
  log(line: string): Promise<void>;
}

/** Failed organizations listed one a line in a job's log; the rest are counted. */
export const REPORT_FAILED_CAP = 50;
/** The least time between two progress reports of a job (a final one is always sent). */
const PROGRESS_EVERY_MS = 1_000;

/** A job's progress, sent at most once a second (and always when forced). */
export function progressReporter(
  deps: Pick<SyncDeps, 'report'>,
): (p: Record<string, unknown>, force?: boolean) => Promise<void> {
  let sentAt = 0;
  return async (p, force = false) => {
    if (!deps.report || (!force && Date.now() - sentAt < PROGRESS_EVERY_MS)) return;
    sentAt = Date.now();
    await deps.report.progress(p).catch(() => undefined);
  };
}

/** Lines of a job's log, best effort. */
export async function reportLines(deps: Pick<SyncDeps, 'report'>, lines: string[]): Promise<void> {
  if (!deps.report) return;
  for (const line of lines) await deps.report.log(line).catch(() => undefined);
}

/** The log lines of a job's outcomes: one of counts, then one per failed organization (capped). */
export function outcomeLines(
  what: string,
  counts: Partial<Record<'created' | 'updated' | 'adopted' | 'unchanged' | 'warnings' | 'failed', number>>,
  failed: readonly { orgId: number; errorType?: string | null; message?: string | null }[],
): string[] {
  const n = (k: keyof typeof counts) => counts[k] ?? 0;
  const lines = [
    `${what}: created ${n('created')}, updated ${n('updated')}, adopted ${n('adopted')}, unchanged ${n('unchanged')}, warning ${n('warnings')}, failed ${n('failed')}`,
  ];
  for (const f of failed.slice(0, REPORT_FAILED_CAP))
    lines.push(
      `organization ${f.orgId} failed${f.errorType ? ` (${f.errorType})` : ''}: ${f.message ?? 'no reason given'}`,
    );
  if (failed.length > REPORT_FAILED_CAP) lines.push(`… and ${failed.length - REPORT_FAILED_CAP} more failed`);
  return lines;
}

/** Runs a database step of a run, trying again while the database is away, for the run's retry budget. */
export function durable<T>(deps: Pick<SyncDeps, 'retryBudgetMs'>, step: () => Promise<T>): Promise<T> {
  return withDatabaseRetry(step, { budgetMs: deps.retryBudgetMs });
}

/** A run ended under its work (an operator aborted it, the reaper ended it): stop without a word more. */
export class RunEndedError extends Error {
  constructor(readonly runId: string) {
    super(`run ${runId} is no longer running`);
    this.name = 'RunEndedError';
  }
}

/** The run could not complete and is recorded as failed; no blind retry helps. */
export class RunFailedError extends Error {
  constructor(
    message: string,
    readonly errorType: string,
    readonly runId: string,
  ) {
    super(message);
    this.name = 'RunFailedError';
  }
}
