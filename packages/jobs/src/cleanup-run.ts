import { z } from 'zod';
import type { Config } from '@pcs/config';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';
import { triggerSchema } from './triggers.js';

export const cleanupRunJob = defineJob({
  name: JOB_NAMES.cleanupRun,
  queue: 'cleanup',
  description: 'Mark (or delete) the Chatwoot contacts of organizations that are no longer customers',
  schema: z.object({
    dryRun: z.boolean().default(false),
    force: z.boolean().default(false),
    mergeDuplicates: z.boolean().default(false),
    trigger: triggerSchema.default('schedule'),
    runId: z.uuid().optional(),
  }),
  attempts: 2,
  backoff: { type: 'exponential', delay: 60_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
  schedule: (config: Config) => ({
    ...config.schedules.cleanup,
    tz: config.schedules.tz,
    data: { trigger: 'schedule' as const },
  }),
});
