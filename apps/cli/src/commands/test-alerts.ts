import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { makeAlert } from '@pcs/notify/alert';
import { alertJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { openRuntime } from '../runtime.js';
import { color, createOutput } from '../output.js';
import { reportTimeout, TIMEOUT_HELP, waitTimeout, warnIfNoWorker } from '../wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function registerTestAlerts(program: Command): void {
  program
    .command('test-alerts')
    .description('enqueue an INFO test alert on the notifications queue (delivered to Google Chat by a worker)')
    .option('--wait', 'wait for the delivery result (exit 1 when it failed)')
    .option('--timeout <duration>', TIMEOUT_HELP)
    .option('--json', 'print one JSON document')
    .action(async (opts: { wait?: boolean; timeout?: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const timeoutMs = waitTimeout(opts);
      const rt = await openRuntime({ redis: true });
      try {
        const alert = makeAlert({
          script: 'monitor',
          level: 'INFO',
          error_type: 'test',
          message: 'Test notification from pipedrive-chatwoot-sync: alerts reach this space.',
          details: { sent_by: 'manage test-alerts' },
          fingerprint: `test:${randomUUID()}`,
        });
        const job = await enqueue(rt.queues!, alertJob, alert, { attempts: 6 });
        rt.loggers
          .get('alerts')
          .info({ jobId: job.id, fingerprint: alert.fingerprint }, 'test alert enqueued from the CLI');
        const { googleChatWebhook, webhookUrl, email } = rt.config.alerts;
        if (!googleChatWebhook && !webhookUrl && !email)
          out.say(
            color.yellow(
              'No alert channel is set (SUPPORT_GOOGLE_CHAT, ALERT_WEBHOOK_URL, or ALERT_EMAIL_TO with SMTP_URL): the worker will only write the alert to alerts.log',
            ),
          );
        else if (!googleChatWebhook)
          out.say(color.yellow('SUPPORT_GOOGLE_CHAT is not set: the alert goes to the other channels only'));
        if (!opts.wait) {
          out.say(`queued test alert (job ${job.id})`);
          out.document({ jobId: job.id, queued: true, fingerprint: alert.fingerprint });
          return;
        }
        const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
        let warned = false;
        let warnedNoWorker = false;
        const started = Date.now();
        for (;;) {
          const current = await rt.queues!.notifications.getJob(job.id!);
          const state = current ? await current.getState() : 'unknown';
          if (state === 'completed') {
            const rv = current!.returnvalue as { delivered?: boolean; reason?: string; threadName?: string };
            out.say(
              rv?.delivered
                ? color.green(`test alert delivered to Google Chat (${rv.threadName ?? 'new thread'})`)
                : color.yellow(`test alert not delivered: ${rv?.reason ?? 'unknown'}`),
            );
            out.document({ jobId: job.id, delivered: Boolean(rv?.delivered), ...rv });
            if (!rv?.delivered) process.exitCode = 1;
            return;
          }
          if (state === 'failed') {
            out.say(color.red(`test alert failed: ${current!.failedReason}`));
            out.document({ jobId: job.id, delivered: false, error: current!.failedReason });
            process.exitCode = 1;
            return;
          }
          if (!warnedNoWorker && Date.now() - started > 5_000 && state === 'waiting')
            warnedNoWorker = await warnIfNoWorker(rt.queues!.notifications);
          if (!warned && current && current.attemptsMade > 0) {
            out.say(
              `delivery attempt ${current.attemptsMade} failed (${current.failedReason ?? 'retrying'}); retrying…`,
            );
            warned = true;
          }
          if (Date.now() >= deadline) {
            reportTimeout(out, `test alert (job ${job.id})`, { jobId: job.id, delivered: false }, state, opts.timeout!);
            return;
          }
          await sleep(300);
        }
      } finally {
        await rt.close();
      }
    });
}
