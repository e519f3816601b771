import { alertSchema } from '@pcs/notify/alert';
import { defineJob, KEEP_COMPLETED } from '@pcs/queues';
import { JOB_NAMES } from './names.js';

/** Delivers one alert (the model is @pcs/notify's) to every configured channel. */
export const alertJob = defineJob({
  name: JOB_NAMES.alert,
  queue: 'notifications',
  description: 'Deliver one alert to Google Chat (and email when configured)',
  schema: alertSchema,
  // docs/contract.md §6a: first retry within 10 s, at most 64 s between tries, for up to an hour.
  // 2s·2^(n-1) capped at 64 s by the worker's backoff strategy → ~60 attempts fit in an hour.
  attempts: 60,
  backoff: { type: 'capped-exponential', delay: 2_000 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: { age: 30 * 24 * 3600, count: 5000 },
});
