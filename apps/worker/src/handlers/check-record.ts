import { AlertStateEntity, Like, pingDatabase, recordCheckResult, type CheckStatus } from '@pcs/db';
import { evaluate, evaluateWithoutDatabase, type Condition } from '@pcs/monitor';
import { alertJob, enqueue, type MonitorCheck } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

/** The alert of an unreachable database: its state lives in Redis, since the database cannot hold it. */
export const DATABASE_FINGERPRINT = 'monitor:database';

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
export async function recordCheck(
  ctx: WorkerContext,
  check: MonitorCheck,
  run: () => Promise<CheckOutcome>,
): Promise<CheckOutcome> {
  const started = Date.now();
  const now = new Date();
  const repeatHours = ctx.config.thresholds.alertRepeatHours;
  // The database itself first: when it is down, the alert goes out through Redis alone.
  const dbDown = await pingDatabase(ctx.ds, 3_000).then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  if (dbDown) {
    const condition: Condition = {
      fingerprint: DATABASE_FINGERPRINT,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'database connection failure',
      message: `The database is unreachable: ${dbDown.message}`,
      details: {
        database: ctx.config.database.database,
        host: `${ctx.config.database.host}:${ctx.config.database.port}`,
      },
    };
    for (const alert of await evaluateWithoutDatabase(
      ctx.redis,
      ctx.config.redis.prefix,
      DATABASE_FINGERPRINT,
      condition,
      { now, repeatHours },
    ))
      await enqueue(ctx.queues, alertJob, alert);
    ctx.loggers.get('monitor').error({ check, err: dbDown }, `${check}: the database is unreachable`);
    return {
      status: 'critical',
      message: condition.message,
      details: condition.details ?? {},
      conditions: [condition],
    };
  }
  for (const alert of await evaluateWithoutDatabase(ctx.redis, ctx.config.redis.prefix, DATABASE_FINGERPRINT, null, {
    now,
    repeatHours,
  }))
    await enqueue(ctx.queues, alertJob, alert);
  const outcome = await run();
  await recordCheckResult(ctx.ds, {
    check,
    status: outcome.status,
    message: outcome.message.slice(0, 1024),
    details: outcome.details,
    durationMs: Date.now() - started,
    checkedAt: now,
  });
  const own = `monitor:${check}`;
  const firing = new Set(outcome.conditions.map((c) => c.fingerprint));
  const decisions = await Promise.all(
    outcome.conditions.map((c) => evaluate(ctx.ds, c.fingerprint, c, { now, repeatHours })),
  );
  // Every alert of this check that does not fire now is resolved (monitor:<check> and monitor:<check>:…).
  const active = await ctx.ds.getRepository(AlertStateEntity).find({
    where: [
      { state: 'firing', fingerprint: own },
      { state: 'firing', fingerprint: Like(`${own}:%`) },
    ],
  });
  for (const a of active)
    if (!firing.has(a.fingerprint)) decisions.push(await evaluate(ctx.ds, a.fingerprint, null, { now, repeatHours }));
  for (const alert of decisions.flatMap((d) => d.notify)) await enqueue(ctx.queues, alertJob, alert);
  const level = outcome.status === 'ok' ? 'info' : 'warn';
  ctx.loggers.get('monitor')[level]({ check, status: outcome.status, details: outcome.details }, outcome.message);
  return outcome;
}
