import type { JobDefinition } from './definition.js';
import { cleanupRunJob } from './jobs/cleanup.js';
import { checkJobs } from './jobs/monitor.js';
import { alertJob } from './jobs/notifications.js';
import { syncBatchJob, syncOrgJob, syncRunJob } from './jobs/sync.js';
import type { QueueName } from './names.js';

/** Every job the system knows, in one typed list: the single source for workers, schedulers, CLI and dashboard. */
export const JOB_DEFINITIONS: readonly JobDefinition[] = [
  syncRunJob,
  syncBatchJob,
  syncOrgJob,
  cleanupRunJob,
  ...checkJobs,
  alertJob,
];

const byKey = new Map(JOB_DEFINITIONS.map((d) => [`${d.queue}/${d.name}`, d]));

export function findJobDefinition(queue: string, name: string): JobDefinition | undefined {
  return byKey.get(`${queue}/${name}`);
}

export function definitionsOf(queue: QueueName): JobDefinition[] {
  return JOB_DEFINITIONS.filter((d) => d.queue === queue);
}

/** The id of a definition's job scheduler in Redis: stable, so re-upserting replaces instead of duplicating. */
export function schedulerId(def: Pick<JobDefinition, 'name'>): string {
  return `schedule:${def.name}`;
}
