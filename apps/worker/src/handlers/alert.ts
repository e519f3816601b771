import { UnrecoverableError } from 'bullmq';
import { isApiError } from '@pcs/http';
import { postToGoogleChat } from '@pcs/notify';
import { alertJob, handle, type HandlerEntry } from '@pcs/queues';
import type { WorkerContext } from '../context.js';

/**
 * alert (queue notifications): delivers one alert to Google Chat. 429, 5xx and network errors
 * are retried by the queue (capped exponential backoff with jitter, about an hour); 400, 403 and
 * 404 fail the job at once. Every attempt's outcome is a line in alerts.log.
 */
export function alertHandler(ctx: WorkerContext): HandlerEntry {
  return handle(alertJob, async (alert, job) => {
    const log = ctx.loggers.get('alerts');
    const about = { jobId: job.id, attempt: job.attemptsMade + 1, fingerprint: alert.fingerprint, level: alert.level, state: alert.state, error_type: alert.error_type, script: alert.script };
    const webhook = ctx.config.alerts.googleChatWebhook;
    if (!webhook) {
      log.warn({ ...about, alert }, 'alert not delivered: SUPPORT_GOOGLE_CHAT is not set');
      return { delivered: false, reason: 'SUPPORT_GOOGLE_CHAT is not set' };
    }
    try {
      const result = await postToGoogleChat(webhook, alert);
      log.info({ ...about, thread: result.threadName }, `alert delivered to Google Chat: ${alert.message.slice(0, 200)}`);
      return { delivered: true, ...result };
    } catch (err) {
      const retryable = isApiError(err) && err.retryable;
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log[retryable && !last ? 'warn' : 'error']({ ...about, err, retryable }, retryable && !last ? 'alert delivery failed: will retry' : 'alert delivery failed for good');
      if (!retryable) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
  });
}
