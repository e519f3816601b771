import { UnrecoverableError } from 'bullmq';
import { isApiError } from '@pcs/http';
import type { alertJob } from '@pcs/jobs';
import { EmailChannel, postToGoogleChat, WebhookChannel, type Alert } from '@pcs/notify';
import { countAlertSent } from '@pcs/sync';
import type { JobHandler } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

const NO_CHANNEL = 'no alert channel is set (SUPPORT_GOOGLE_CHAT, ALERT_WEBHOOK_URL, or ALERT_EMAIL_TO with SMTP_URL)';

interface Channel {
  name: 'google-chat' | 'email' | 'webhook';
  send(alert: Alert): Promise<unknown>;
}

/**
 * alert (queue notifications): delivers one alert to every configured channel: Google Chat
 * (SUPPORT_GOOGLE_CHAT), email (ALERT_EMAIL_TO + SMTP_URL) and the generic receiver
 * (ALERT_WEBHOOK_URL: the §6 JSON, docs/contract.md §3). A channel that delivered is not
 * tried again when another one fails and the job is retried. 429, 5xx and network errors are
 * retried by the queue (capped exponential backoff with jitter, about an hour); 400, 403 and 404
 * fail the job at once. Every attempt's outcome is a line in alerts.log. A notification counts in
 * `pcs_alerts_sent_total` when its first channel delivered it.
 */
export function alertHandler(ctx: WorkerContext): JobHandler<(typeof alertJob)['schema']> {
  const channels: Channel[] = [];
  const webhook = ctx.config.alerts.googleChatWebhook;
  if (webhook) channels.push({ name: 'google-chat', send: (a) => postToGoogleChat(webhook, a) });
  if (ctx.config.alerts.email) {
    const email = new EmailChannel(ctx.config.alerts.email);
    channels.push({ name: 'email', send: (a) => email.send(a) });
  }
  if (ctx.config.alerts.webhookUrl) {
    const receiver = new WebhookChannel(ctx.config.alerts.webhookUrl);
    channels.push({ name: 'webhook', send: (a) => receiver.send(a) });
  }
  return async (alert, job) => {
    const log = ctx.loggers.get('alerts');
    const about = {
      jobId: job.id,
      attempt: job.attemptsMade + 1,
      fingerprint: alert.fingerprint,
      level: alert.level,
      state: alert.state,
      error_type: alert.error_type,
      script: alert.script,
    };
    if (!channels.length) {
      log.warn({ ...about, alert }, `alert not delivered: ${NO_CHANNEL}`);
      return { delivered: false, reason: NO_CHANNEL };
    }
    const progress = (job.progress && typeof job.progress === 'object' ? job.progress : {}) as { delivered?: string[] };
    const delivered = new Set(progress.delivered ?? []);
    const results: Record<string, unknown> = {};
    let failure: unknown;
    for (const channel of channels.filter((c) => !delivered.has(c.name))) {
      try {
        results[channel.name] = await channel.send(alert);
        delivered.add(channel.name);
        await job.updateProgress({ delivered: [...delivered] });
        log.info(
          { ...about, channel: channel.name },
          `alert delivered (${channel.name}): ${alert.message.slice(0, 200)}`,
        );
      } catch (err) {
        failure ??= err;
        const retryable = isApiError(err) && err.retryable;
        const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        log[retryable && !last ? 'warn' : 'error'](
          { ...about, channel: channel.name, err, retryable },
          retryable && !last
            ? `alert delivery failed (${channel.name}): will retry`
            : `alert delivery failed for good (${channel.name})`,
        );
      }
    }
    // Delivered (by its first channel, in this attempt): counted once (docs/contract.md §4,
    // pcs_alerts_sent_total), after every channel was tried, so a database away delays none.
    if (!progress.delivered?.length && delivered.size)
      await countAlertSent(ctx.ds, alert).catch((err: unknown) =>
        log.warn({ ...about, err }, 'alert delivered, but not counted in pcs_alerts_sent_total (database)'),
      );
    if (failure) {
      const retryable = isApiError(failure) && failure.retryable;
      if (!retryable) throw new UnrecoverableError((failure as Error).message);
      throw failure;
    }
    const gchat = results['google-chat'] as { threadName?: string } | undefined;
    return { delivered: true, channels: [...delivered], threadName: gchat?.threadName };
  };
}
