import type { Config } from '@pcs/config';
import {
  jobOptionsOf,
  parsePayload,
  schedulerId,
  type AnyJobDefinition,
  type QueueName,
  type WantedSchedule,
} from '@pcs/queues';
import { alertJob } from './alert.js';
import { checkJobs } from './checks.js';
import { cleanupRunJob } from './cleanup-run.js';
import { pruneHistoryJob } from './prune-history.js';
import { syncBatchJob } from './sync-batch.js';
import { syncOrgJob } from './sync-org.js';
import { syncRunJob } from './sync-run.js';
import type { JobName } from './names.js';

export * from './names.js';
export * from './triggers.js';
export { syncRunJob } from './sync-run.js';
export { syncBatchJob, batchJobId, BATCH_PRIORITY } from './sync-batch.js';
export * from './sync-org.js';
export { cleanupRunJob } from './cleanup-run.js';
export { pruneHistoryJob, PRUNE_CRON } from './prune-history.js';
export { checkJobs, CHECK_DESCRIPTIONS } from './checks.js';
export { alertJob } from './alert.js';

/**
 * Every job the system knows, by name: the single source for workers (each name has exactly one
 * handler, checked by the compiler in apps/worker/src/handlers), schedulers, the CLI and the
 * dashboard. One file per job in this package; its handler is apps/worker/src/handlers/<job>.ts.
 */
export const JOBS = {
  'sync-run': syncRunJob,
  'sync-batch': syncBatchJob,
  'sync-org': syncOrgJob,
  'cleanup-run': cleanupRunJob,
  'prune-history': pruneHistoryJob,
  ...checkJobs,
  alert: alertJob,
} as const satisfies Record<JobName, AnyJobDefinition>;

export type Jobs = typeof JOBS;

export const JOB_DEFINITIONS: readonly AnyJobDefinition[] = Object.values(JOBS);

const byKey = new Map(JOB_DEFINITIONS.map((d) => [`${d.queue}/${d.name}`, d]));

export function findJobDefinition(queue: string, name: string): AnyJobDefinition | undefined {
  return byKey.get(`${queue}/${name}`);
}

/** The job schedulers configuration asks for on the given queues (every scheduled job of those queues). */
export function wantedSchedules(config: Config, served: readonly QueueName[]): WantedSchedule[] {
  const out: WantedSchedule[] = [];
  for (const def of JOB_DEFINITIONS) {
    if (!served.includes(def.queue) || !def.schedule) continue;
    const spec = def.schedule(config);
    if (!spec) continue;
    out.push({
      queue: def.queue,
      id: schedulerId(def),
      name: def.name,
      repeat: spec.pattern ? { pattern: spec.pattern, tz: spec.tz } : { every: spec.every! },
      data: parsePayload(def, spec.data),
      opts: jobOptionsOf(def),
    });
  }
  return out;
}
