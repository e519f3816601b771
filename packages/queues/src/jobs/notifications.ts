import { z } from 'zod';
import { defineJob, KEEP_COMPLETED } from '../definition.js';
import { JOB_NAMES } from '../names.js';

/** The alert document of INTERFACE.md §6 (the original deployment's JSON plus grouping fields). */
export const alertSchema = z.object({
  timestamp: z.string().min(1).max(64),
  script: z.enum(['sync', 'cleanup', 'monitor']),
  level: z.enum(['ERROR', 'WARNING', 'INFO']),
  error_type: z.string().min(1).max(64),
  message: z.string().min(1).max(20_000),
  details: z.record(z.string(), z.unknown()).default({}),
  fingerprint: z.string().min(1).max(191),
  state: z.enum(['firing', 'resolved']).default('firing'),
});
export type Alert = z.output<typeof alertSchema>;

export const alertJob = defineJob({
  name: JOB_NAMES.alert,
  queue: 'notifications',
  description: 'Deliver one alert to Google Chat (and email when configured)',
  schema: alertSchema,
  // INTERFACE.md §6a: first retry within 10 s, at most 64 s between tries, for up to an hour.
  // 2s·2^(n-1) capped at 64 s by the worker's backoff strategy → ~60 attempts fit in an hour.
  attempts: 60,
  backoff: { type: 'capped-exponential', delay: 2_000 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: { age: 30 * 24 * 3600, count: 5000 },
});
