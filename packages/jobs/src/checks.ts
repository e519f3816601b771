import { z } from 'zod';
import type { Config } from '@pcs/config';
import { defineJob, KEEP_FAILED } from '@pcs/queues';
import type { MonitorCheck } from './names.js';

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
    schedule: (config: Config) => ({
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
  freshness: 'Time since the last successful sync',
  queues: 'Failed jobs piling up, waiting jobs too old, no worker online',
};

export const checkJobs = {
  'pipedrive-api': checkJob('pipedrive-api', CHECK_DESCRIPTIONS['pipedrive-api']),
  'chatwoot-api': checkJob('chatwoot-api', CHECK_DESCRIPTIONS['chatwoot-api']),
  'sync-status': checkJob('sync-status', CHECK_DESCRIPTIONS['sync-status']),
  consistency: checkJob('consistency', CHECK_DESCRIPTIONS.consistency),
  freshness: checkJob('freshness', CHECK_DESCRIPTIONS.freshness),
  queues: checkJob('queues', CHECK_DESCRIPTIONS.queues),
} as const satisfies Record<MonitorCheck, unknown>;
