import { AlertStateEntity, In, Like, type Run } from '@pcs/db';
import { evaluate, type Condition } from '@pcs/monitor';
import { alertJob, enqueue } from '@pcs/queues';
import type { WorkerContext } from './context.js';

/**
 * Sync and cleanup runs go through the alert rules: a failed run fires `<type>:failed:<error
 * type>` (auth issue, API failure, database connection failure, system error), a refused cleanup
 * fires `cleanup:refused`, a sync whose share of failed records passes ALERT_ERROR_THRESHOLD fires
 * `sync:high-error-rate`; the next good run resolves them (in the same Google Chat thread).
 */
export function runAlertsListener(ctx: WorkerContext): (run: Run) => Promise<void> {
  return async (run) => {
    if (run.mode === 'webhook' || run.mode === 'dry-run') return;
    const now = new Date();
    const repeatHours = ctx.config.thresholds.alertRepeatHours;
    const script = run.type;
    const firing: Condition[] = [];
    const base = { run_id: run.id, mode: run.mode };
    if (run.status === 'failed') {
      const errorType = run.errorType ?? 'system error';
      const api = /pipedrive/i.test(run.errorMessage ?? '')
        ? 'pipedrive'
        : /chatwoot/i.test(run.errorMessage ?? '')
          ? 'chatwoot'
          : undefined;
      // A rejected credential is one incident whoever meets it first, the run or the API check:
      // the same fingerprint, so one thread, one firing and one resolved message.
      const fingerprint =
        errorType === 'auth issue' && api ? `monitor:${api}-api` : `${script}:failed:${errorType.replace(/\s+/g, '-')}`;
      firing.push({
        fingerprint,
        script,
        level: 'ERROR',
        errorType,
        message: `${script === 'sync' ? 'Sync' : 'Cleanup'} run failed: ${run.errorMessage ?? errorType}`,
        details: {
          ...base,
          ...(/pipedrive/i.test(run.errorMessage ?? '')
            ? { api: 'Pipedrive' }
            : /chatwoot/i.test(run.errorMessage ?? '')
              ? { api: 'Chatwoot' }
              : {}),
        },
      });
    }
    if (run.status === 'refused') {
      const d = (run.details ?? {}) as { toChange?: number; managed?: number };
      firing.push({
        fingerprint: 'cleanup:refused',
        script: 'cleanup',
        level: 'WARNING',
        errorType: 'cleanup refused',
        message: `Cleanup refused: ${run.errorMessage}`,
        details: {
          ...base,
          affected_count: d.toChange,
          managed_contacts: d.managed,
          max_percent: `${ctx.config.thresholds.cleanupMaxPercent}%`,
        },
      });
    }
    if (script === 'sync' && run.status !== 'failed' && run.processed > 0) {
      const rate = (run.failed / run.processed) * 100;
      if (rate > ctx.config.thresholds.alertErrorPercent) {
        firing.push({
          fingerprint: 'sync:high-error-rate',
          script: 'sync',
          level: 'WARNING',
          errorType: 'high error rate',
          message: `${run.failed} of ${run.processed} organizations failed in the last sync run`,
          details: { ...base, affected_count: run.failed, error_rate: `${rate.toFixed(1)}%` },
        });
      }
    }
    // Everything of this script that fired before and does not fire now is resolved; a sync run
    // that completed also proves both APIs take their credentials.
    const where = [{ state: 'firing' as const, fingerprint: Like(`${script}:%`) }];
    const completed = run.status === 'succeeded' || run.status === 'partial';
    const active = [
      ...(await ctx.ds.getRepository(AlertStateEntity).find({ where })),
      ...(script === 'sync' && completed
        ? await ctx.ds.getRepository(AlertStateEntity).find({
            where: {
              state: 'firing',
              fingerprint: In(['monitor:pipedrive-api', 'monitor:chatwoot-api']),
              errorType: 'auth issue',
            },
          })
        : []),
    ];
    const firingNow = new Set(firing.map((c) => c.fingerprint));
    const decisions = [
      ...(await Promise.all(firing.map((c) => evaluate(ctx.ds, c.fingerprint, c, { now, repeatHours })))),
      ...(await Promise.all(
        active
          .filter(
            (a) => !firingNow.has(a.fingerprint) && (run.status !== 'refused' || a.fingerprint !== 'cleanup:refused'),
          )
          .map((a) => evaluate(ctx.ds, a.fingerprint, null, { now, repeatHours })),
      )),
    ];
    for (const alert of decisions.flatMap((d) => d.notify)) {
      await enqueue(ctx.queues, alertJob, alert);
      ctx.loggers
        .get('alerts')
        .info(
          { fingerprint: alert.fingerprint, state: alert.state, level: alert.level, error_type: alert.error_type },
          `alert queued: ${alert.message.slice(0, 200)}`,
        );
    }
  };
}
