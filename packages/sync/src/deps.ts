import type { Redis } from 'ioredis';
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
  redis: Redis;
  log: Logger;
  /** Queues one upsert batch of a run (idempotent: a batch's job id comes from its run and number). */
  enqueueBatch: (data: { runId: string; batch: number; orgIds: number[] }) => Promise<unknown>;
  /** How long a step keeps trying while the database or Redis is away before the run gives up. */
  retryBudgetMs: number;
  /** The cleanup.log channel (every change a line); the main log when absent. */
  cleanupLog?: Logger;
  /** Told when a run ends (succeeded, partial, failed, refused): the alert engine listens here. */
  onRunEnded?: (run: Run) => Promise<void>;
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
