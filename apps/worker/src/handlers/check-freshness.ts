import { In, RunEntity } from '@pcs/db';
import {
  checkJobs,
  handle,
  JOB_DEFINITIONS,
  schedulerId,
  syncSchedulers,
  type HandlerEntry,
  type QueueName,
} from '@pcs/queues';
import type { Condition } from '@pcs/monitor';
import type { WorkerContext } from '../context.js';
import { recordCheck } from './check-record.js';

/**
 * freshness: no successful sync for longer than MAX_SYNC_AGE_HOURS is critical (a stopped
 * scheduler or worker shows here, which the original deployment never noticed); a missing job
 * scheduler is recreated and reported.
 */
export function checkFreshnessHandler(ctx: WorkerContext, implemented: () => Set<string>): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'freshness')!;
  return handle(def, async () =>
    recordCheck(ctx, 'freshness', async () => {
      const now = Date.now();
      const maxAgeMs = ctx.config.thresholds.maxSyncAgeHours * 3_600_000;
      const runs = ctx.ds.getRepository(RunEntity);
      const lastGood = await runs.findOne({
        where: { type: 'sync', mode: In(['full', 'incremental']), status: In(['succeeded', 'partial']) },
        order: { finishedAt: 'DESC' },
      });
      const first = await runs.findOne({
        where: { type: 'sync', mode: In(['full', 'incremental']) },
        order: { startedAt: 'ASC' },
      });

      // Schedulers every deployment must have: recreate any that went missing.
      const expected = JOB_DEFINITIONS.filter((d) => d.schedule && implemented().has(`${d.queue}/${d.name}`));
      const missing: string[] = [];
      for (const queue of [...new Set(expected.map((d) => d.queue))] as QueueName[]) {
        const present = new Set((await ctx.queues[queue].getJobSchedulers()).map((s) => s.key));
        const lost = expected.filter((d) => d.queue === queue && !present.has(schedulerId(d)));
        if (lost.length) {
          missing.push(...lost.map((d) => schedulerId(d)));
          await syncSchedulers(ctx.queues, expected, ctx.config, [queue]);
        }
      }

      const conditions: Condition[] = [];
      let status: 'ok' | 'warning' | 'critical' = 'ok';
      let message: string;
      const ageHours = lastGood?.finishedAt ? (now - lastGood.finishedAt.getTime()) / 3_600_000 : undefined;
      if (lastGood?.finishedAt && now - lastGood.finishedAt.getTime() <= maxAgeMs) {
        message = `last successful sync ${ageHours!.toFixed(1)} h ago (limit ${ctx.config.thresholds.maxSyncAgeHours} h)`;
      } else if (!lastGood && (!first || now - first.startedAt.getTime() <= maxAgeMs)) {
        status = 'warning';
        message = first ? 'the first sync has not finished yet' : 'no sync has run yet';
      } else {
        status = 'critical';
        message = lastGood
          ? `no successful sync for ${ageHours!.toFixed(1)} h (limit ${ctx.config.thresholds.maxSyncAgeHours} h): is a worker serving the sync queue?`
          : `no successful sync since the first run ${((now - first!.startedAt.getTime()) / 3_600_000).toFixed(1)} h ago`;
        conditions.push({
          fingerprint: 'monitor:freshness',
          script: 'monitor',
          level: 'ERROR',
          errorType: 'system error',
          message,
          details: {
            last_success: lastGood?.finishedAt?.toISOString() ?? null,
            max_sync_age_hours: ctx.config.thresholds.maxSyncAgeHours,
          },
        });
      }
      if (missing.length) {
        message += `; recreated missing job schedulers: ${missing.join(', ')}`;
        if (status === 'ok') status = 'warning';
        conditions.push({
          fingerprint: 'monitor:freshness:schedulers',
          script: 'monitor',
          level: 'WARNING',
          errorType: 'system error',
          message: `Job schedulers were missing and have been recreated: ${missing.join(', ')}`,
          details: { recreated: missing },
        });
      }
      return {
        status,
        message,
        details: { lastSuccess: lastGood?.finishedAt?.toISOString() ?? null, recreatedSchedulers: missing },
        conditions,
      };
    }),
  );
}
