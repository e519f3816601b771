import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { makeAlert } from '@pcs/notify';
import { enqueue } from '@pcs/queues';
import { alertJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { waitFor } from '../../../test/support/index.js';

/** Email as the second channel, against a real SMTP server on loopback. */
describe('email alerts', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let smtp: SMTPServer;
  const mails: { to: string[]; raw: string }[] = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, callback) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString()));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
          callback();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    const port = (smtp.server.address() as { port: number }).port;
    stack = await createStack('email', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      ALERT_EMAIL_TO: 'ops@example.test, oncall@example.test',
      ALERT_EMAIL_FROM: 'Sync <sync@example.test>',
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  it('sends each alert by email too, threaded by fingerprint; a channel that delivered is not repeated on retry', async () => {
    stack.sim.gchat.setFaults({ fail: [{ status: 503, count: 1 }] });
    const job = await enqueue(
      worker.ctx.queues,
      alertJob,
      makeAlert({
        script: 'sync',
        level: 'ERROR',
        error_type: 'auth issue',
        message: 'Pipedrive rejected the API token (401)',
        details: { api: 'Pipedrive' },
        fingerprint: 'sync:failed:auth-issue',
      }),
    );
    await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 30_000, what: 'the delivery' });
    expect(stack.sim.gchat.messages()).toHaveLength(1);
    expect(mails).toHaveLength(1); // the Google Chat retry did not send the email again
    expect(mails[0]!.to.sort()).toEqual(['oncall@example.test', 'ops@example.test']);
    expect(mails[0]!.raw).toMatch(/Subject: .*\[ERROR\] Pipedrive-Chatwoot Sync: sync - auth issue/);
    expect(mails[0]!.raw).toContain('Pipedrive rejected the API token (401)');
    const resolved = await enqueue(
      worker.ctx.queues,
      alertJob,
      makeAlert({
        script: 'sync',
        level: 'ERROR',
        error_type: 'auth issue',
        message: 'Resolved: Pipedrive rejected the API token (401)',
        state: 'resolved',
        fingerprint: 'sync:failed:auth-issue',
      }),
    );
    await waitFor(async () => (await resolved.getState()) === 'completed', {
      timeoutMs: 30_000,
      what: 'the resolved delivery',
    });
    expect(mails).toHaveLength(2);
    const ref = (raw: string) => /In-Reply-To: (<[^>]+>)/.exec(raw)?.[1];
    expect(ref(mails[1]!.raw)).toBe(ref(mails[0]!.raw));
    expect(mails[1]!.raw).toMatch(/\[RESOLVED\]/);
  });
});
