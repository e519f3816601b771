import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '../../worker/src/worker.js';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { waitFor } from '../../../test/support/index.js';

describe('dashboard watchdog', () => {
  let stack: TestStack;
  let dashboard: AppProcess;
  beforeAll(async () => {
    stack = await createStack('watchdog', {
      DASHBOARD_AUTH: 'off',
      WATCHDOG_AFTER_SECONDS: '2',
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    await dashboard.waitFor('"dashboard listening"');
  });
  afterAll(async () => {
    await dashboard?.stop();
    await stack?.close();
  });

  it('with no worker online, posts a critical alert straight to Google Chat, and a resolved one when a worker is back', async () => {
    const [down] = await waitFor(() => (stack.sim.gchat.messages().length ? stack.sim.gchat.messages() : undefined), {
      timeoutMs: 20_000,
      what: 'the watchdog alert',
    });
    expect(down!.fallbackText).toMatch(/^🚨 ERROR: No worker has been online/);
    const worker = await startWorker(stack.config({ WORKER_QUEUES: 'notifications' }), { console: false });
    try {
      const msgs = await waitFor(
        () => (stack.sim.gchat.messages().length >= 2 ? stack.sim.gchat.messages() : undefined),
        { timeoutMs: 20_000, what: 'the resolved message' },
      );
      expect(msgs[1]!.fallbackText).toMatch(/^✅ RESOLVED/);
      expect(msgs[1]!.thread).toBe(down!.thread);
      expect(msgs).toHaveLength(2);
    } finally {
      await worker.stop('test');
    }
  });
});
