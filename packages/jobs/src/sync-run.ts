import { z } from 'zod';
import type { Config } from '@pcs/config';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';
import { triggerSchema } from './triggers.js';

/** A whole sync run: lists Pipedrive organizations and fans out upsert batches. */
export const syncRunJob = defineJob({
  name: JOB_NAMES.syncRun,
  queue: 'sync',
  description: 'List Pipedrive customer organizations (full or since the last run) and fan out upsert batches',
  schema: z.object({
    mode: z.enum(['full', 'incremental']).default('incremental'),
    trigger: triggerSchema.default('schedule'),
    runId: z.uuid().optional(),
    /** docs/contract.md §2 `sync --dry-run`: compare and report, write nothing to Chatwoot nor the stored hashes or contact ids. */
    dryRun: z.boolean().optional(),
  }),
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
  schedule: (config: Config) => ({
    ...config.schedules.sync,
    tz: config.schedules.tz,
    data: { mode: 'incremental' as const, trigger: 'schedule' as const },
  }),
});
