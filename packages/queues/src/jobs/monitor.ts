import { z } from 'zod';
import { defineJob, KEEP_FAILED } from '../definition.js';
import { MONITOR_CHECKS, type MonitorCheck } from '../names.js';

const checkSchema = z.object({
  /** A manual run (`manage monitor`) waits for the result; a scheduled one just records it. */
  trigger: z.enum(['schedule', 'cli', 'test']).default('schedule'),
});

function checkJob<N extends MonitorCheck>(name: N, description: string) {
  return defineJob({
    name,
    queue: 'monitor',
    description,
    schema: checkSchema,
    // A check is cheap and runs again at the next interval: one retry for a passing fault.
    attempts: 2,
    backoff: { type: 'fixed', delay: 10_000 },
    removeOnComplete: { age: 24 * 3600, count: 200 },
    removeOnFail: KEEP_FAILED,
    schedule: (config) => ({
      ...config.schedules.monitor,
      tz: config.schedules.tz,
      data: { trigger: 'schedule' as const },
    }),
  });
}

export const CHECK_DESCRIPTIONS: Record<MonitorCheck, string> = {
  'pipedrive-api':
    'Pipedrive authentication and reachability (cheap call); customer count from the last complete listing',
  'chatwoot-api': 'Chatwoot authentication, reachability and contact count',
  'sync-status':
    'Unsynced and stale customer organizations, 24 h error rate, consecutive failed runs, database reachability',
  consistency: 'Pipedrive customer count against the database, and the share of records synced',
  freshness: 'Time since the last successful sync; missing job schedulers are recreated',
  queues: 'Failed jobs piling up, waiting jobs too old, no worker online',
};

export const checkJobs = MONITOR_CHECKS.map((name) => checkJob(name, CHECK_DESCRIPTIONS[name]));
