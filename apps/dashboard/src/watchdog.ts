import type { RedisClient } from '@pcs/queues';
import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { AlertEngine, MemoryAlertStore, MysqlAlertStore, type Condition } from '@pcs/monitor';
import { postToGoogleChat, WebhookChannel, type Alert } from '@pcs/notify';
import { onlineWorkers, pingRedis, QUEUE_NAMES, type Queues } from '@pcs/queues';

/**
 * The dashboard's watchdog: when no worker is online, or Redis itself is unreachable, for
 * WATCHDOG_AFTER_SECONDS (5 minutes), nobody can run the notification queue, so the dashboard
 * posts a critical alert straight to Google Chat (and to ALERT_WEBHOOK_URL when set, §3), and a
 * resolved one in the same thread after (docs/contract.md §6a). Decided by the same alert engine
 * as every other alert: its state is in MySQL (in this process's memory while MySQL is away too),
 * its messages go out through the engine's `direct` outbox, posted by this process until every
 * channel took them (a channel that took one is not posted to again).
 */
export interface Watchdog {
  stop(): void;
  /** One evaluation now (also what the timer runs). */
  tick(): Promise<void>;
}

type Problem = 'redis-down' | 'no-worker';
const PROBLEMS: Problem[] = ['redis-down', 'no-worker'];

export function startWatchdog(
  config: Config,
  queues: Queues,
  redis: RedisClient,
  getDs: () => DataSource | undefined,
  log: Logger,
): Watchdog {
  const afterMs = config.dashboard.watchdogAfterMs;
  const since = new Map<Problem, number>();
  const engine = new AlertEngine({
    primary: new MysqlAlertStore(getDs),
    fallback: new MemoryAlertStore(),
    channel: 'direct',
    repeatHours: config.thresholds.alertRepeatHours,
    log,
  });

  async function observe(): Promise<Problem | undefined> {
    try {
      await pingRedis(redis, 2_000);
    } catch {
      return 'redis-down';
    }
    const counts = await Promise.all(QUEUE_NAMES.map(async (q) => (await onlineWorkers(queues[q])).length));
    return counts.every((n) => n === 0) ? 'no-worker' : undefined;
  }

  function condition(p: Problem, lastingMs: number): Condition {
    const minutes = Math.round(lastingMs / 60_000);
    return {
      fingerprint: `watchdog:${p}`,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'system error',
      message:
        p === 'redis-down'
          ? `Redis has been unreachable for ${minutes} min: no job runs and no alert can be queued`
          : `No worker has been online for ${minutes} min: sync, cleanup, health checks and alert delivery have stopped`,
      details: { since: new Date(since.get(p)!).toISOString(), source: 'dashboard watchdog' },
    };
  }

  const channels: { name: string; send: (alert: Alert) => Promise<unknown> }[] = [];
  const gchat = config.alerts.googleChatWebhook;
  if (gchat) channels.push({ name: 'google-chat', send: (a) => postToGoogleChat(gchat, a) });
  if (config.alerts.webhookUrl) {
    const receiver = new WebhookChannel(config.alerts.webhookUrl);
    channels.push({ name: 'webhook', send: (a) => receiver.send(a) });
  }
  // Per outbox entry, the channels that took it: a failed post is retried next tick on the others only.
  const deliveredTo = new Map<string, Set<string>>();

  async function deliver(alert: Alert, id: string): Promise<void> {
    if (!channels.length) {
      log.warn({ alert }, 'watchdog alert not delivered: neither SUPPORT_GOOGLE_CHAT nor ALERT_WEBHOOK_URL is set');
      return;
    }
    const done = deliveredTo.get(id) ?? new Set<string>();
    deliveredTo.set(id, done);
    let failure: unknown;
    for (const channel of channels.filter((c) => !done.has(c.name))) {
      try {
        await channel.send(alert);
        done.add(channel.name);
        log.info(
          { fingerprint: alert.fingerprint, state: alert.state, channel: channel.name },
          `watchdog alert delivered (${channel.name}): ${alert.message}`,
        );
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
    deliveredTo.delete(id);
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    const problem = await observe().catch(() => 'redis-down' as const);
    for (const p of PROBLEMS) {
      if (p === problem) {
        if (!since.has(p)) since.set(p, now);
        const lasting = now - since.get(p)!;
        if (lasting >= afterMs) await engine.observe(`watchdog:${p}`, condition(p, lasting));
      } else {
        since.delete(p);
        await engine.observe(`watchdog:${p}`, null);
      }
    }
    try {
      await engine.relay(deliver);
    } catch (err) {
      log.error({ err }, 'watchdog alert delivery failed: retried on the next tick');
    }
  }

  const interval = Math.max(500, Math.min(30_000, Math.floor(afterMs / 4)));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void tick()
      .catch((err: unknown) => {
        try {
          log.error({ err }, 'watchdog round failed');
        } catch {
          // The log is closed: the dashboard is stopping.
        }
      })
      .finally(() => (running = false));
  }, interval);
  timer.unref();
  return { stop: () => clearInterval(timer), tick };
}
