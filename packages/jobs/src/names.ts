/** Job names, one per kind of work; each monitor check is its own job name. */
export const JOB_NAMES = {
  syncRun: 'sync-run',
  syncBatch: 'sync-batch',
  syncOrg: 'sync-org',
  cleanupRun: 'cleanup-run',
  pruneHistory: 'prune-history',
  checkPipedriveApi: 'pipedrive-api',
  checkChatwootApi: 'chatwoot-api',
  checkSyncStatus: 'sync-status',
  checkConsistency: 'consistency',
  checkFreshness: 'freshness',
  checkQueues: 'queues',
  alert: 'alert',
} as const;

export type JobName = (typeof JOB_NAMES)[keyof typeof JOB_NAMES];

export const MONITOR_CHECKS = [
  JOB_NAMES.checkPipedriveApi,
  JOB_NAMES.checkChatwootApi,
  JOB_NAMES.checkSyncStatus,
  JOB_NAMES.checkConsistency,
  JOB_NAMES.checkFreshness,
  JOB_NAMES.checkQueues,
] as const;
export type MonitorCheck = (typeof MONITOR_CHECKS)[number];
