import type { Config } from '@pcs/config';
import type { Logger } from '@pcs/logger';
import { alertTimestamp, makeAlert, postToGoogleChat } from '@pcs/notify';
import { distinctWorkers } from '@pcs/ops';
import { pingRedis, QUEUE_NAMES, type Queues } from '@pcs/queues';
import type { Alert } from '@pcs/queues';
import type { Redis } from 'ioredis';

/**
 * The dashboard's watchdog: when no worker is online, or Redis itself is unreachable, for
 * WATCHDOG_AFTER_SECONDS (5 minutes), nobody can run the notification queue, so the dashboard
 * posts a critical alert straight to Google Chat, and a resolved one in the same thread after.
 */
export interface Watchdog {
  stop(): void;
  /** One evaluation now (also what the timer runs). */
  tick(): Promise<void>;
}

type Problem = 'redis-down' | 'no-worker';

export function startWatchdog(
  config: Config,
  queues: Queues,
  redis: Redis,
  log: Logger,
  post: (alert: Alert) => Promise<unknown> = (a) => postToGoogleChat(config.alerts.googleChatWebhook!, a),
): Watchdog {
  const afterMs = config.dashboard.watchdogAfterMs;
  const since = new Map<Problem, number>();
  const firing = new Map<Problem, { alert: Alert; lastSent: number }>();
  const repeatMs = config.thresholds.alertRepeatHours * 3_600_000;

  async function send(alert: Alert): Promise<boolean> {
    if (!config.alerts.googleChatWebhook) {
      log.warn({ alert }, 'watchdog alert not delivered: SUPPORT_GOOGLE_CHAT is not set');
      return true;
    }
    try {
      await post(alert);
      log.info({ fingerprint: alert.fingerprint, state: alert.state }, `watchdog alert delivered: ${alert.message}`);
      return true;
    } catch (err) {
      log.error({ err, fingerprint: alert.fingerprint }, 'watchdog alert delivery failed: retried on the next tick');
      return false;
    }
  }

  async function observe(): Promise<Problem | undefined> {
    try {
      await pingRedis(redis, 2_000);
    } catch {
      return 'redis-down';
    }
    const counts = await Promise.all(
      QUEUE_NAMES.map(async (q) => distinctWorkers(await queues[q].getWorkers()).length),
    );
    return counts.every((n) => n === 0) ? 'no-worker' : undefined;
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    const problem = await observe().catch(() => 'redis-down' as const);
    for (const p of ['redis-down', 'no-worker'] as Problem[]) {
      if (p === problem) {
        if (!since.has(p)) since.set(p, now);
        const lasting = now - since.get(p)!;
        const current = firing.get(p);
        if (lasting >= afterMs && (!current || now - current.lastSent >= repeatMs)) {
          const minutes = Math.round(lasting / 60_000);
          const alert = makeAlert({
            script: 'monitor',
            level: 'ERROR',
            error_type: 'system error',
            message:
              p === 'redis-down'
                ? `Redis has been unreachable for ${minutes} min: no job runs and no alert can be queued`
                : `No worker has been online for ${minutes} min: sync, cleanup, health checks and alert delivery have stopped`,
            details: { since: new Date(since.get(p)!).toISOString(), source: 'dashboard watchdog' },
            fingerprint: `watchdog:${p}`,
          });
          if (await send(alert)) firing.set(p, { alert, lastSent: now });
        }
      } else {
        since.delete(p);
        const current = firing.get(p);
        if (current) {
          const resolved: Alert = {
            ...current.alert,
            state: 'resolved',
            message: `Resolved: ${p === 'redis-down' ? 'Redis answers again' : 'a worker is online again'}`,
            timestamp: alertTimestamp(),
          };
          if (await send(resolved)) firing.delete(p);
        }
      }
    }
  }

  const interval = Math.max(500, Math.min(30_000, Math.floor(afterMs / 4)));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void tick().finally(() => (running = false));
  }, interval);
  timer.unref();
  return { stop: () => clearInterval(timer), tick };
}
