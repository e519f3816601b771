import type { Redis } from 'ioredis';
import { alertTimestamp } from '@pcs/notify';
import type { Alert } from '@pcs/queues';
import type { Condition } from './rules.js';

/**
 * Alert state kept in Redis for the one case the database cannot serve: the database itself being
 * down. A condition fires once (then at most every ALERT_REPEAT_HOURS) and resolves once, like
 * the rules in rules.ts, so an alert raised while MySQL is down is still delivered.
 */
const key = (prefix: string, fingerprint: string) => `${prefix}:alerts:fallback:${fingerprint}`;

export async function evaluateWithoutDatabase(
  redis: Redis,
  prefix: string,
  fingerprint: string,
  condition: Condition | null,
  opts: { now: Date; repeatHours: number },
): Promise<Alert[]> {
  const k = key(prefix, fingerprint);
  const raw = await redis.get(k);
  const prev = raw
    ? (JSON.parse(raw) as { condition: Condition; firstFiredAt: string; lastNotifiedAt: string })
    : undefined;
  if (!condition) {
    if (!prev) return [];
    await redis.del(k);
    const c = prev.condition;
    return [
      {
        timestamp: alertTimestamp(opts.now),
        script: c.script,
        level: c.level,
        error_type: c.errorType,
        message: `Resolved: ${c.message}`,
        details: { ...(c.details ?? {}), firing_since: alertTimestamp(new Date(prev.firstFiredAt)) },
        fingerprint,
        state: 'resolved',
      },
    ];
  }
  const due = !prev || opts.now.getTime() - Date.parse(prev.lastNotifiedAt) >= opts.repeatHours * 3_600_000;
  const state = {
    condition,
    firstFiredAt: prev?.firstFiredAt ?? opts.now.toISOString(),
    lastNotifiedAt: due ? opts.now.toISOString() : prev!.lastNotifiedAt,
  };
  await redis.set(k, JSON.stringify(state));
  if (!due) return [];
  return [
    {
      timestamp: alertTimestamp(opts.now),
      script: condition.script,
      level: condition.level,
      error_type: condition.errorType,
      message: condition.message,
      details: { ...(condition.details ?? {}), ...(prev ? { repeat: true } : {}) },
      fingerprint,
      state: 'firing',
    },
  ];
}

/** Whether a fallback alert of this fingerprint is firing (so the database path can resolve it). */
export async function firingWithoutDatabase(redis: Redis, prefix: string, fingerprint: string): Promise<boolean> {
  return (await redis.exists(key(prefix, fingerprint))) === 1;
}
