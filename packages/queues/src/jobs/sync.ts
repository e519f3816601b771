import { z } from 'zod';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '../definition.js';
import { JOB_NAMES } from '../names.js';

export const triggerSchema = z.enum(['schedule', 'cli', 'webhook', 'dashboard', 'test']);

/** A whole sync run: lists Pipedrive organizations and fans out upsert batches. */
export const syncRunJob = defineJob({
  name: JOB_NAMES.syncRun,
  queue: 'sync',
  description: 'List Pipedrive customer organizations (full or since the last run) and fan out upsert batches',
  schema: z.object({
    mode: z.enum(['full', 'incremental']).default('incremental'),
    trigger: triggerSchema.default('schedule'),
    runId: z.uuid().optional(),
  }),
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
  schedule: (config) => ({
    ...config.schedules.sync,
    tz: config.schedules.tz,
    data: { mode: 'incremental' as const, trigger: 'schedule' as const },
  }),
});

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

/** A targeted upsert of one organization (Pipedrive webhook). */
export const syncOrgJob = defineJob({
  name: JOB_NAMES.syncOrg,
  queue: 'sync',
  description: 'Upsert one organization now (Pipedrive webhook event)',
  schema: z.object({
    orgId: z.number().int().positive(),
    trigger: triggerSchema.default('webhook'),
    event: z.string().max(64).optional(),
  }),
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
});
