import type { checkJobs, MonitorCheck } from '@pcs/jobs';
import { CHECKS, runCheck, type CheckOutcome } from '@pcs/monitor';
import type { JobHandler } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

/**
 * One monitor job per health check (pipedrive-api, chatwoot-api, sync-status, consistency,
 * freshness, queues): each runs its check (packages/monitor/src/checks/<check>.ts), stores the
 * result and passes its conditions to the alert engine.
 */
export function checkHandler(
  ctx: WorkerContext,
  name: MonitorCheck,
): JobHandler<(typeof checkJobs)[MonitorCheck]['schema']> {
  return async (): Promise<Omit<CheckOutcome, 'conditions'>> => {
    const { conditions: _conditions, ...result } = await runCheck(
      { config: ctx.config, ds: ctx.ds, runs: ctx.runs, queues: ctx.queues, redis: ctx.redis, apis: ctx.apis },
      ctx.alerts,
      ctx.loggers.get('monitor'),
      name,
      CHECKS[name],
    );
    return result;
  };
}
