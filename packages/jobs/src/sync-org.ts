import { z } from 'zod';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';
import { triggerSchema } from './triggers.js';

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

/** Before the batches of a running sync (they run at priority 100). */
export const WEBHOOK_PRIORITY = 1;
