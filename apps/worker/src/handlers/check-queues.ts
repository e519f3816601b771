import type { CheckStatus } from '@pcs/db';
import type { Condition } from '@pcs/monitor';
import { distinctWorkers } from '@pcs/ops';
import { checkJobs, QUEUE_NAMES, handle, type HandlerEntry, type QueueName } from '@pcs/queues';
import type { WorkerContext } from '../context.js';
import { recordCheck, type CheckOutcome } from './check-record.js';

/** Limits of the `queues` check. */
export const QUEUE_LIMITS = {
  /** Failed jobs kept in a queue above which the check warns (they are kept 7 days). */
  failedWarn: 25,
  /** A waiting job older than this means nobody picks work up in time. */
  waitingAgeWarnMs: 15 * 60_000,
  waitingAgeCriticalMs: 60 * 60_000,
};

export interface QueueHealth {
  queue: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  oldestWaitingMs: number | null;
  workers: number;
}

export async function inspectQueues(ctx: Pick<WorkerContext, 'queues'>, now = Date.now()): Promise<QueueHealth[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const q = ctx.queues[name];
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
      const [oldest] = await q.getJobs(['wait'], 0, 0, true);
      const workers = await q.getWorkers();
      return {
        queue: name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        oldestWaitingMs: oldest ? now - oldest.timestamp : null,
        workers: distinctWorkers(workers).length,
      };
    }),
  );
}

/** Turns queue figures into one check result: the worst finding decides the status. */
export function evaluateQueues(health: QueueHealth[]): Omit<CheckOutcome, 'conditions'> {
  const findings: { status: CheckStatus; text: string }[] = [];
  for (const h of health) {
    if (h.workers === 0 && (h.waiting > 0 || h.delayed > 0)) {
      findings.push({
        status: 'critical',
        text: `no worker online for queue ${h.queue} (${h.waiting} waiting, ${h.delayed} delayed)`,
      });
    }
    if (h.oldestWaitingMs !== null && h.oldestWaitingMs > QUEUE_LIMITS.waitingAgeWarnMs) {
      const minutes = Math.round(h.oldestWaitingMs / 60_000);
      findings.push({
        status: h.oldestWaitingMs > QUEUE_LIMITS.waitingAgeCriticalMs ? 'critical' : 'warning',
        text: `oldest waiting job in ${h.queue} has waited ${minutes} min`,
      });
    }
    if (h.failed > QUEUE_LIMITS.failedWarn)
      findings.push({ status: 'warning', text: `${h.failed} failed jobs in ${h.queue}` });
  }
  const status: CheckStatus = findings.some((f) => f.status === 'critical')
    ? 'critical'
    : findings.length
      ? 'warning'
      : 'ok';
  const message = findings.length
    ? findings.map((f) => f.text).join('; ')
    : `queues healthy (${health.reduce((n, h) => n + h.waiting, 0)} waiting)`;
  return { status, message, details: { queues: health, limits: QUEUE_LIMITS } };
}

export function checkQueuesHandler(ctx: WorkerContext): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'queues')!;
  return handle(def, async () =>
    recordCheck(ctx, 'queues', async () => {
      const outcome = evaluateQueues(await inspectQueues(ctx));
      const conditions: Condition[] =
        outcome.status === 'ok'
          ? []
          : [
              {
                fingerprint: 'monitor:queues',
                script: 'monitor',
                level: outcome.status === 'critical' ? 'ERROR' : 'WARNING',
                errorType: 'system error',
                message: outcome.message,
                details: {},
              },
            ];
      return { ...outcome, conditions };
    }),
  );
}
