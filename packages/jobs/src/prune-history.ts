import { z } from 'zod';
import type { Config } from '@pcs/config';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';
import { triggerSchema } from './triggers.js';

/** When the daily prune runs: 03:30 in SCHEDULE_TZ, a quiet hour for most deployments. */
export const PRUNE_CRON = '30 3 * * *';

/**
 * The daily prune of old history (docs/contract.md §3, RETENTION_DAYS): runs, per-record
 * outcomes, run batches, check results and delivered alerts older than the retention, in chunks
 * (packages/sync/src/retention.ts). On the `cleanup` queue, the housekeeping queue: a
 * `sync,cleanup` worker runs it, one job at a time next to the cleanup runs.
 */
export const pruneHistoryJob = defineJob({
  name: JOB_NAMES.pruneHistory,
  queue: 'cleanup',
  description: 'Delete runs, outcomes, check results, run batches and delivered alerts older than RETENTION_DAYS',
  schema: z.object({
    trigger: triggerSchema.default('schedule'),
    /** Rows per delete statement. */
    chunkSize: z.number().int().min(1).max(50_000).default(2_000),
    /** Stop after this many delete statements (the next prune continues). */
    maxChunks: z.number().int().min(1).optional(),
  }),
  // Idempotent and resumable: a retry (or tomorrow's run) continues with what is left.
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
  schedule: (config: Config) => ({
    pattern: PRUNE_CRON,
    tz: config.schedules.tz,
    data: { trigger: 'schedule' as const },
  }),
});
