import { createServer, type Server } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAlert } from '@pcs/notify';
import { enqueue } from '@pcs/queues';
import { alertJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { waitFor } from '../../../test/support/index.js';

interface Received {
  contentType: string | undefined;
  body: string;
  answered: number;
  url: string;
}

function readLogs(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    text += statSync(p).isDirectory() ? readLogs(p) : readFileSync(p, 'utf8');
  }
  return text;
}

/** ALERT_WEBHOOK_URL (docs/contract.md §3): a real HTTP receiver on loopback gets each alert as the §6 JSON. */
describe('alert webhook (ALERT_WEBHOOK_URL)', () => {
  const token = 'a8Fq2LmZ0pXr7TbW5c1e';
  let stack: TestStack;
  let worker: RunningWorker;
  let server: Server;
  const received: Received[] = [];
  /** The statuses the receiver answers next, in order; 200 once they run out. */
  let answers: number[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const status = answers.shift() ?? 200;
        received.push({ contentType: req.headers['content-type'], body, answered: status, url: req.url ?? '' });
        // Like many error pages, a refusal echoes the address asked for (token included).
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `busy: ${req.url}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    stack = await createStack('alert-webhook', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/pcs?code=${token}`,
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
    await new Promise<void>((r) => server?.close(() => r()));
  });

  it('a receiver that fails twice then accepts gets the alert once, as the §6 JSON; Google Chat retried alone after', async () => {
    answers = [503, 503];
    // Google Chat fails one attempt longer than the receiver: the attempt after the receiver accepted
    // must not post to it again.
    stack.sim.gchat.setFaults({ fail: [{ status: 503, count: 3 }] });
    const alert = makeAlert({
      script: 'sync',
      level: 'ERROR',
      error_type: 'API failure',
      message: 'Chatwoot answered 502 for 25 contacts',
      details: { affected_count: 25, error_rate: '15.2%', api: 'Chatwoot' },
      fingerprint: 'sync:failed:api-failure',
    });
    // The definition's capped exponential backoff, from a shorter base so the test takes seconds.
    const job = await enqueue(worker.ctx.queues, alertJob, alert, {
      backoff: { type: 'capped-exponential', delay: 300 },
    });
    await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 30_000, what: 'the delivery' });

    expect(received.map((r) => r.answered)).toEqual([503, 503, 200]);
    const accepted = received.filter((r) => r.answered === 200);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.contentType).toBe('application/json');
    expect(accepted[0]!.url).toBe(`/hooks/pcs?code=${token}`);
    const body = JSON.parse(accepted[0]!.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      'timestamp',
      'script',
      'level',
      'error_type',
      'message',
      'details',
      'fingerprint',
      'state',
    ]);
    expect(body).toEqual({ ...alert, state: 'firing' });
    expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(stack.sim.gchat.messages()).toHaveLength(1);
    // Four attempts: both channels failed twice, then the receiver took it, then Google Chat alone.
    expect((await worker.ctx.queues.notifications.getJob(job.id!))?.attemptsMade).toBe(4);
  });

  it('a receiver that refuses (400) fails the job at once, without retries', async () => {
    const before = received.length;
    answers = [400];
    const job = await enqueue(
      worker.ctx.queues,
      alertJob,
      makeAlert({
        script: 'monitor',
        level: 'WARNING',
        error_type: 'data mismatch',
        message: 'Stale records: 3',
        fingerprint: 'monitor:sync-status:stale',
      }),
      { backoff: { type: 'capped-exponential', delay: 300 } },
    );
    await waitFor(async () => (await job.getState()) === 'failed', { timeoutMs: 30_000, what: 'the failed job' });
    expect(received.length - before).toBe(1);
    const failed = await worker.ctx.queues.notifications.getJob(job.id!);
    expect(failed?.failedReason).toMatch(/alert webhook refused the alert with 400/);
    // The refusal quoted the address it was asked (token included): Bull Board shows the reason without it.
    expect(failed?.failedReason).toContain('[REDACTED]');
    expect(failed?.failedReason).not.toContain(token);
  });

  it('never writes the token of ALERT_WEBHOOK_URL to the logs, whatever its parameter is called', async () => {
    await worker.stop('test');
    const logs = readLogs(stack.env.LOG_DIR!);
    expect(logs).toContain('alert delivery failed (webhook): will retry');
    expect(logs).toContain('alert delivered (webhook)');
    expect(logs).not.toContain(token);
  });
});
