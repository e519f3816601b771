import type { RedisClient } from '@pcs/queues';
import type { Config } from '@pcs/config';
import type { DataSource, Run } from '@pcs/db';
import type { Loggers } from '@pcs/logger';
import type { AlertEngine } from '@pcs/monitor';
import type { Queues } from '@pcs/queues';
import type { Runs, SyncDeps } from '@pcs/sync';
import type { Apis } from './apis.js';

/** The worker's timings; tests shorten them, production keeps the defaults. */
export interface WorkerTiming {
  /**
   * How long a step keeps trying while the database or Redis is away before its run gives up
   * (the batch retry budget). Over 60 s: an outage of up to 60 s fails no record (docs/contract.md §6a).
   */
  retryBudgetMs: number;
  /** A running run without progress for this long is looked at by the reaper. */
  leaseSeconds: number;
  /** How often every worker reaps lost runs and sweeps unevaluated run alerts. */
  reaperIntervalMs: number;
  /** How often every worker recreates lost job schedulers (≤ 60 s: back within 2 minutes). */
  reconcileIntervalMs: number;
  /** How often every worker moves committed alerts to the notifications queue (also at once when one is committed). */
  relayIntervalMs: number;
  /**
   * How long a job's lock lasts without renewal, and how often stalled jobs are looked for: a job
   * whose worker died goes back to the queue within about twice this (BullMQ's lockDuration and
   * stalledInterval); the second time it fails for good.
   */
  jobLockMs: number;
}

export const DEFAULT_TIMING: WorkerTiming = {
  retryBudgetMs: 120_000,
  leaseSeconds: 120,
  reaperIntervalMs: 30_000,
  reconcileIntervalMs: 30_000,
  relayIntervalMs: 2_000,
  jobLockMs: 30_000,
};

/** What every handler may use: typed config, the log channels, the database, the queues (as a producer), the state owners. */
export interface WorkerContext {
  config: Config;
  loggers: Loggers;
  ds: DataSource;
  queues: Queues;
  redis: RedisClient;
  /** The owner of run state. */
  runs: Runs;
  /** The alert engine (state in MySQL, in Redis while MySQL is away; relayed to the notifications queue). */
  alerts: AlertEngine;
  timing: WorkerTiming;
  /** What follows a run's end: its alerts (the runs module calls it; the reaper's sweep again when it was lost). */
  onRunEnded: (run: Run) => Promise<void>;
  /** The API clients, created on first use (a notifications-only worker needs none). */
  apis: () => Apis;
  /** The sync and cleanup use cases' dependencies. */
  sync: () => SyncDeps;
}
