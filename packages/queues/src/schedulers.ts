import type { Config } from '@pcs/config';
import type { JobDefinition } from './definition.js';
import { jobOptionsOf, parsePayload, type Queues } from './queues.js';
import { schedulerId } from './registry.js';
import type { QueueName } from './names.js';

export interface SchedulerChange {
  queue: QueueName;
  id: string;
  action: 'upserted' | 'removed';
  every?: number;
  pattern?: string;
}

/**
 * Upserts one BullMQ job scheduler per scheduled definition of the given queues, from config.
 * Ids are stable (`schedule:<job>`), so restarts and several workers never duplicate a schedule,
 * and a changed interval or cron replaces the old one. Schedulers of these queues that no
 * definition asks for any more are removed.
 */
export async function syncSchedulers(
  queues: Partial<Queues>,
  definitions: readonly JobDefinition[],
  config: Config,
  served: readonly QueueName[],
): Promise<SchedulerChange[]> {
  const changes: SchedulerChange[] = [];
  for (const queueName of served) {
    const queue = queues[queueName];
    if (!queue) continue;
    const wanted = new Set<string>();
    for (const def of definitions.filter((d) => d.queue === queueName && d.schedule)) {
      const spec = def.schedule!(config);
      if (!spec) continue;
      const id = schedulerId(def);
      wanted.add(id);
      const repeat = spec.pattern ? { pattern: spec.pattern, tz: spec.tz } : { every: spec.every! };
      const data = parsePayload(def, spec.data);
      await queue.upsertJobScheduler(id, repeat, { name: def.name, data, opts: jobOptionsOf(def) });
      changes.push({
        queue: queueName,
        id,
        action: 'upserted',
        ...(spec.pattern ? { pattern: spec.pattern } : { every: spec.every }),
      });
    }
    for (const existing of await queue.getJobSchedulers()) {
      if (existing.key && !wanted.has(existing.key)) {
        await queue.removeJobScheduler(existing.key);
        changes.push({ queue: queueName, id: existing.key, action: 'removed' });
      }
    }
  }
  return changes;
}
