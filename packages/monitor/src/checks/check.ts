import type { RedisClient } from '@pcs/queues';
import type { ChatwootClient } from '@pcs/chatwoot';
import type { Config } from '@pcs/config';
import { isServiceUnreachable, pingDatabase, recordCheckResult, type CheckStatus, type DataSource } from '@pcs/db';
import { describeError, withTimeout } from '@pcs/errors';
import type { MonitorCheck } from '@pcs/jobs';
import type { Logger } from '@pcs/logger';
import type { PipedriveClient } from '@pcs/pipedrive';
import type { Queues } from '@pcs/queues';
import type { Runs } from '@pcs/sync';
import type { Condition } from '../alerts/decide.js';
import type { AlertEngine } from '../alerts/engine.js';

/** What a health check may look at. */
export interface CheckContext {
  config: Config;
  ds: DataSource;
  runs: Runs;
  queues: Queues;
  redis: RedisClient;
  /** The API clients (created on first use). */
  apis: () => { pipedrive: PipedriveClient; chatwoot: ChatwootClient };
}

export interface CheckOutcome {
  status: CheckStatus;
  message: string;
  details: Record<string, unknown>;
  /** Conditions firing now; every other `monitor:<check>…` alert that fired is resolved. */
  conditions: Condition[];
}

export type Check = (ctx: CheckContext) => Promise<CheckOutcome>;

/** The alert of an unreachable database: its state lives in the fallback store (Redis), since the database cannot hold it. */
export const DATABASE_FINGERPRINT = 'monitor:database';

/** Conditions that an API being down explains: they stay quiet while that API alert fires. */
export const API_ALERTS = ['monitor:pipedrive-api', 'monitor:chatwoot-api'];

export const worst = (a: CheckStatus, b: CheckStatus): CheckStatus =>
  a === 'critical' || b === 'critical' ? 'critical' : a === 'warning' || b === 'warning' ? 'warning' : 'ok';

/**
 * Runs one check: the database first (when it is down, that is the finding, and its alert goes
 * through the fallback store), then the check itself; stores the result and passes the verdict
 * to the alert engine, stamped with the time the check looked (the database's clock).
 */
export async function runCheck(
  ctx: CheckContext,
  engine: AlertEngine,
  log: Logger,
  name: MonitorCheck,
  check: Check,
): Promise<CheckOutcome> {
  const started = Date.now();
  let observedAt: Date;
  try {
    observedAt = await pingDatabase(ctx.ds, 3_000);
  } catch (err) {
    if (!isServiceUnreachable(err)) throw err;
    const { host, port, database } = ctx.config.database;
    const condition: Condition = {
      fingerprint: DATABASE_FINGERPRINT,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'database connection failure',
      message: `The database is unreachable: ${describeError(err).message}`,
      details: { database, host: `${host}:${port}` },
    };
    await engine.observe(DATABASE_FINGERPRINT, condition, { store: 'fallback' });
    log.error({ check, err }, `${name}: the database is unreachable`);
    return {
      status: 'critical',
      message: condition.message,
      details: condition.details ?? {},
      conditions: [condition],
    };
  }
  // The database answers: its alert (kept in the fallback) resolves. When Redis is away as well
  // this cannot be done now, and the check does not wait for it: the next check settles it.
  await withTimeout(
    engine.observe(DATABASE_FINGERPRINT, null, { store: 'fallback', observedAt }),
    1_000,
    () => new Error('no answer within 1 s'),
  ).catch((err: unknown) =>
    log.warn({ check: name, err }, `${name}: the database alert could not be settled this time`),
  );
  const outcome = await check(ctx);
  await recordCheckResult(ctx.ds, {
    check: name,
    status: outcome.status,
    message: outcome.message.slice(0, 1024),
    details: outcome.details,
    durationMs: Date.now() - started,
    checkedAt: observedAt,
  });
  await engine.observeGroup(`monitor:${name}`, outcome.conditions, observedAt);
  const level = outcome.status === 'ok' ? 'info' : 'warn';
  log[level]({ check: name, status: outcome.status, details: outcome.details }, outcome.message);
  return outcome;
}
