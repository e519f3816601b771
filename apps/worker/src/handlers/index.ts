import { JOBS, MONITOR_CHECKS, type JobName, type Jobs, type MonitorCheck } from '@pcs/jobs';
import type { HandlerEntry, JobHandler } from '@pcs/queues';
import type { WorkerContext } from '../context.js';
import { alertHandler } from './alert.js';
import { cleanupRunHandler } from './cleanup-run.js';
import { checkHandler } from './monitor-check.js';
import { pruneHistoryHandler } from './prune-history.js';
import { syncBatchHandler } from './sync-batch.js';
import { syncOrgHandler } from './sync-org.js';
import { syncRunHandler } from './sync-run.js';

/**
 * Every job of the catalogue (@pcs/jobs) and the handler that runs it, one file per job. The map
 * is typed by the catalogue: a job without a handler, a handler of an unknown job, or a handler
 * whose payload type differs from its job's schema does not compile.
 */
export type Handlers = { [K in JobName]: JobHandler<Jobs[K]['schema']> };

export function createHandlers(ctx: WorkerContext): Handlers {
  const checks = Object.fromEntries(MONITOR_CHECKS.map((name) => [name, checkHandler(ctx, name)])) as {
    [K in MonitorCheck]: ReturnType<typeof checkHandler>;
  };
  return {
    'sync-run': syncRunHandler(ctx),
    'sync-batch': syncBatchHandler(ctx),
    'sync-org': syncOrgHandler(ctx),
    'cleanup-run': cleanupRunHandler(ctx),
    'prune-history': pruneHistoryHandler(ctx),
    ...checks,
    alert: alertHandler(ctx),
  };
}

/** The map as the dispatching workers take it (each handler with its job's definition). */
export function handlerEntries(handlers: Handlers): HandlerEntry[] {
  return (Object.keys(JOBS) as JobName[]).map((name) => ({
    definition: JOBS[name],
    handler: handlers[name] as JobHandler,
  }));
}
