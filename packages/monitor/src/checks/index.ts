import type { MonitorCheck } from '@pcs/jobs';
import { chatwootApiCheck, pipedriveApiCheck } from './apis.js';
import type { Check } from './check.js';
import { consistencyCheck } from './consistency.js';
import { freshnessCheck } from './freshness.js';
import { queuesCheck } from './queues.js';
import { syncStatusCheck } from './sync-status.js';

export * from './check.js';
export { evaluateQueues, inspectQueues, QUEUE_LIMITS, type QueueHealth } from './queues.js';
export { CONSECUTIVE_FAILED_RUNS } from './sync-status.js';
export { CONSISTENCY_LIMITS } from './consistency.js';

/** Every health check, one per monitor job (apps/worker runs each as its job's handler). */
export const CHECKS: Record<MonitorCheck, Check> = {
  'pipedrive-api': pipedriveApiCheck,
  'chatwoot-api': chatwootApiCheck,
  'sync-status': syncStatusCheck,
  consistency: consistencyCheck,
  freshness: freshnessCheck,
  queues: queuesCheck,
};
