import type { CheckStatus } from '@pcs/db';
import { onlineWorkers, QUEUE_NAMES, type QueueName, type Queues } from '@pcs/queues';
import type { Check, CheckOutcome } from './check.js';

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

export async function inspectQueues(queues: Queues, now = Date.now()): Promise<QueueHealth[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const q = queues[name];
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
      const [oldest] = await q.getJobs(['wait'], 0, 0, true);
      return {
        queue: name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        oldestWaitingMs: oldest ? now - oldest.timestamp : null,
        workers: (await onlineWorkers(q)).length,
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

/** queues: failed jobs piling up, waiting jobs too old, a queue with work and no worker. */
export const queuesCheck: Check = async (ctx) => {
  const outcome = evaluateQueues(await inspectQueues(ctx.queues));
  return {
    ...outcome,
    conditions:
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
          ],
  };
};
