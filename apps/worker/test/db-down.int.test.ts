import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '@pcs/queues';
import { checkJobs } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { MYSQL, waitFor } from '../../../test/support/index.js';

/**
 * MySQL unreachable: the worker reaches the database through a TCP proxy that the test cuts,
 * as a stopped MySQL would look from the worker. A critical alert must still reach Google Chat.
 */
describe('alerts while the database is down', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let proxy: Server | undefined;
  let port = 0;
  const sockets = new Set<Socket>();

  const up = () =>
    new Promise<void>((resolve) => {
      proxy = createServer((client) => {
        const upstream = connect(MYSQL.port, MYSQL.host);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      });
      proxy.listen(port, '127.0.0.1', () => {
        port = (proxy!.address() as { port: number }).port;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      proxy!.close(() => resolve());
    });

  beforeAll(async () => {
    await up();
    stack = await createStack('dbdown', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'monitor,notifications', MYSQL_PORT: String(port) }), {
      console: false,
    });
  });
  afterAll(async () => {
    await worker?.stop('test');
    if (proxy?.listening) await down();
    await stack?.close();
  });

  async function check() {
    const job = await enqueue(worker.ctx.queues, checkJobs['sync-status'], { trigger: 'test' });
    await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), {
      timeoutMs: 60_000,
      what: 'the check',
    });
    return (await worker.ctx.queues.monitor.getJob(job.id!))!;
  }

  it('MySQL unreachable: one critical alert reaches Google Chat; resolved once it is back', async () => {
    await down();
    const first = await check();
    expect(first.returnvalue).toMatchObject({ status: 'critical' });
    await check(); // still down: no second message
    await waitFor(() => stack.sim.gchat.messages().length || undefined, {
      timeoutMs: 20_000,
      what: 'the critical alert',
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const [alert, ...more] = stack.sim.gchat.messages();
    expect(more).toEqual([]);
    expect(alert!.fallbackText).toMatch(/^🚨 ERROR: The database is unreachable/);
    expect(JSON.stringify(alert!.cardsV2)).toContain('monitor - database connection failure');
    await up();
    await waitFor(async () => ((await check()).returnvalue as { status?: string }).status !== 'critical' || undefined, {
      timeoutMs: 60_000,
      what: 'the database to answer again',
    });
    await waitFor(() => stack.sim.gchat.messages().length >= 2 || undefined, {
      timeoutMs: 20_000,
      what: 'the resolved message',
    });
    const msgs = stack.sim.gchat.messages();
    expect(msgs[1]!.fallbackText).toMatch(/^✅ RESOLVED/);
    expect(msgs[1]!.thread).toBe(msgs[0]!.thread);
  }, 180_000);
});
