import type { JobsOptions } from 'bullmq';
import type { Queues } from './queues.js';
import type { QueueName } from './names.js';

/** One job scheduler a deployment must have, as configuration asks for it. */
export interface WantedSchedule {
  queue: QueueName;
  /** Stable scheduler id (`schedule:<job>`). */
  id: string;
  /** The job name each run gets. */
  name: string;
  repeat: { every: number } | { pattern: string; tz?: string };
  data: unknown;
  opts: JobsOptions;
}

export interface SchedulerChange {
  queue: QueueName;
  id: string;
  /** upserted: written from configuration (start); recreated: it was missing (lost from Redis); removed: no longer wanted. */
  action: 'upserted' | 'recreated' | 'removed';
  every?: number;
  pattern?: string;
}

/**
 * Brings the job schedulers of the served queues in line with `wanted`.
 * - `apply` (a worker starting): upserts every wanted scheduler, so a changed interval or cron
 *   replaces the old one, and removes schedulers of these queues nobody wants any more. Ids are
 *   stable, so restarts and several workers never duplicate a schedule.
 * - `heal` (every worker, on a timer): recreates only the wanted schedulers that are missing, e.g.
 *   after Redis lost its data. Schedulers that exist are left alone (an upsert could move an
 *   interval schedule's next run).
 */
export async function reconcileSchedulers(
  queues: Partial<Queues>,
  wanted: readonly WantedSchedule[],
  served: readonly QueueName[],
  mode: 'apply' | 'heal',
): Promise<SchedulerChange[]> {
  const changes: SchedulerChange[] = [];
  for (const queueName of served) {
    const queue = queues[queueName];
    if (!queue) continue;
    const mine = wanted.filter((w) => w.queue === queueName);
    const existing = await queue.getJobSchedulers();
    const present = new Set(existing.map((s) => s.key));
    for (const w of mine) {
      if (mode === 'heal' && present.has(w.id)) continue;
      await queue.upsertJobScheduler(w.id, w.repeat, { name: w.name, data: w.data, opts: w.opts });
      changes.push({
        queue: queueName,
        id: w.id,
        action: mode === 'apply' ? 'upserted' : 'recreated',
        ...('pattern' in w.repeat ? { pattern: w.repeat.pattern } : { every: w.repeat.every }),
      });
    }
    if (mode === 'apply') {
      const ids = new Set(mine.map((w) => w.id));
      for (const s of existing) {
        if (s.key && !ids.has(s.key)) {
          await queue.removeJobScheduler(s.key);
          changes.push({ queue: queueName, id: s.key, action: 'removed' });
        }
      }
    }
  }
  return changes;
}
