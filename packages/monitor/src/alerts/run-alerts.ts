import type { Config } from '@pcs/config';
import type { Run } from '@pcs/db';
import { apiLabel, type ErrorSource } from '@pcs/errors';
import type { Condition } from './decide.js';
import type { AlertEngine } from './engine.js';

/** The fingerprints of the API checks: a rejected credential is one incident whoever meets it first. */
export const API_FINGERPRINTS = { pipedrive: 'monitor:pipedrive-api', chatwoot: 'monitor:chatwoot-api' } as const;

/**
 * Sync and cleanup runs through the alert engine: a failed run fires `<type>:failed:<error type>`
 * (or, for a rejected credential, the API check's own fingerprint), a refused cleanup fires
 * `cleanup:refused`, a sync whose share of failed records passes ALERT_ERROR_THRESHOLD fires
 * `sync:high-error-rate`; the next good run resolves them (in the same Google Chat thread). The
 * kind and source of a failure come from the run (typed where the error happened), never from its
 * message. Aborted runs, dry runs and targeted runs raise nothing.
 */
export function runConditions(run: Run, config: Config): Condition[] {
  const script = run.type;
  const base = { run_id: run.id, mode: run.mode };
  const source = (run.errorSource ?? undefined) as ErrorSource | undefined;
  const api = apiLabel(source);
  const out: Condition[] = [];
  if (run.status === 'failed') {
    const errorType = run.errorType ?? 'system error';
    const auth = run.errorKind === 'auth' || run.errorKind === 'forbidden';
    const fingerprint =
      auth && (source === 'pipedrive' || source === 'chatwoot')
        ? API_FINGERPRINTS[source]
        : `${script}:failed:${errorType.replace(/\s+/g, '-')}`;
    out.push({
      fingerprint,
      script,
      level: 'ERROR',
      errorType,
      message: `${script === 'sync' ? 'Sync' : 'Cleanup'} run failed: ${run.errorMessage ?? errorType}`,
      details: { ...base, error_kind: run.errorKind ?? undefined, ...(api ? { api } : {}) },
    });
  }
  if (run.status === 'refused') {
    const d = (run.details ?? {}) as { toChange?: number; managed?: number };
    out.push({
      fingerprint: 'cleanup:refused',
      script: 'cleanup',
      level: 'WARNING',
      errorType: 'cleanup refused',
      message: `Cleanup refused: ${run.errorMessage}`,
      details: {
        ...base,
        affected_count: d.toChange,
        managed_contacts: d.managed,
        max_percent: `${config.thresholds.cleanupMaxPercent}%`,
      },
    });
  }
  if (script === 'sync' && run.status !== 'failed' && run.processed > 0) {
    const rate = (run.failed / run.processed) * 100;
    if (rate > config.thresholds.alertErrorPercent) {
      out.push({
        fingerprint: 'sync:high-error-rate',
        script: 'sync',
        level: 'WARNING',
        errorType: 'high error rate',
        message: `${run.failed} of ${run.processed} organizations failed in the last sync run`,
        details: { ...base, affected_count: run.failed, error_rate: `${rate.toFixed(1)}%` },
      });
    }
  }
  return out;
}

/** Whether a run's end says anything to the alert engine. */
export function raisesAlerts(run: Run): boolean {
  return run.mode !== 'webhook' && run.mode !== 'dry-run' && run.errorKind !== 'aborted' && run.status !== 'running';
}

/**
 * Evaluates an ended run: its conditions fire; every other alert of its script resolves; a sync
 * that completed also proves both APIs take their credentials (their auth alerts resolve).
 */
export async function evaluateRunAlerts(engine: AlertEngine, run: Run, config: Config): Promise<void> {
  if (!raisesAlerts(run)) return;
  const observedAt = run.finishedAt ?? engine.now();
  const firing = runConditions(run, config);
  await engine.observeGroup(run.type, firing, observedAt);
  const completed = run.status === 'succeeded' || run.status === 'partial';
  if (run.type === 'sync' && completed) {
    const authAlerts = await engine.firing({ fingerprints: Object.values(API_FINGERPRINTS) });
    for (const a of authAlerts.filter((x) => x.errorType === 'auth issue'))
      await engine.observe(a.fingerprint, null, { observedAt });
  }
}
