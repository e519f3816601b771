import { AlertStateEntity, Like, recordCheckResult, type CheckStatus } from '@pcs/db';
import { evaluate, type Condition } from '@pcs/monitor';
import { alertJob, enqueue, type MonitorCheck } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

export interface CheckOutcome {
  status: CheckStatus;
  message: string;
  details: Record<string, unknown>;
  /** Conditions firing now; every other `monitor:<check>…` alert that fired is resolved. */
  conditions: Condition[];
}

/**
 * Runs one check, stores its result, and passes its conditions through the alert rules: the
 * alerts to send go to the notifications queue.
 */
export async function recordCheck(ctx: WorkerContext, check: MonitorCheck, run: () => Promise<CheckOutcome>): Promise<CheckOutcome> {
  const started = Date.now();
  const outcome = await run();
  const now = new Date();
  await recordCheckResult(ctx.ds, { check, status: outcome.status, message: outcome.message.slice(0, 1024), details: outcome.details, durationMs: Date.now() - started, checkedAt: now });
  const repeatHours = ctx.config.thresholds.alertRepeatHours;
  const own = `monitor:${check}`;
  const firing = new Set(outcome.conditions.map((c) => c.fingerprint));
  const decisions = await Promise.all(outcome.conditions.map((c) => evaluate(ctx.ds, c.fingerprint, c, { now, repeatHours })));
  // Every alert of this check that does not fire now is resolved (monitor:<check> and monitor:<check>:…).
  const active = await ctx.ds.getRepository(AlertStateEntity).find({ where: [{ state: 'firing', fingerprint: own }, { state: 'firing', fingerprint: Like(`${own}:%`) }] });
  for (const a of active) if (!firing.has(a.fingerprint)) decisions.push(await evaluate(ctx.ds, a.fingerprint, null, { now, repeatHours }));
  for (const alert of decisions.flatMap((d) => d.notify)) await enqueue(ctx.queues, alertJob, alert);
  ctx.loggers.get('monitor')[outcome.status === 'ok' ? 'info' : 'warn']({ check, status: outcome.status, details: outcome.details }, outcome.message);
  return outcome;
}
