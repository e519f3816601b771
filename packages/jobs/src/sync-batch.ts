import { z } from 'zod';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';

/** Upserts one batch (at most BATCH_SIZE) of organizations of a run into Chatwoot. */
export const syncBatchJob = defineJob({
  name: JOB_NAMES.syncBatch,
  queue: 'sync',
  description: 'Upsert a batch of organizations of a sync run into Chatwoot',
  schema: z.object({
    runId: z.uuid(),
    batch: z.number().int().nonnegative(),
    orgIds: z.array(z.number().int().positive()).min(1).max(500),
  }),
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
});

/**
 * A batch's job id, derived from its run and number: a listing resumed after a crash re-adds the
 * same batches (BullMQ ignores a job id it holds), and the reaper finds a run's batches by it.
 */
export function batchJobId(runId: string, batch: number): string {
  return `batch-${runId}-${batch}`;
}

/**
 * BullMQ runs jobs without a priority first, then prioritized ones by number. Batches get a low
 * priority, webhook upserts a high one, so a Pipedrive event does not wait behind a big run.
 */
export const BATCH_PRIORITY = 100;
