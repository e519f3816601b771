import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunEntity } from '../../packages/db/src/index.js';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { startMysqlProxy, type MysqlProxy } from '../support/chaos.js';
import { contactProblems } from '../support/sim-data.js';
import { waitFor } from '../support/index.js';
import { FAST, incident, runWhere, since, sleep } from './harness.js';

/**
 * MySQL gone for longer than the batch retry budget in the middle of a sync: the run ends
 * `failed` and an alert goes out once the database is back, and the next scheduled sync starts
 * within one interval and puts every contact right, none duplicated.
 */
describe('chaos: MySQL unreachable past the retry budget', () => {
  let stack: TestStack;
  let proxy: MysqlProxy;
  let worker: RunningWorker;
  const BUDGET_MS = 4_000;
  beforeAll(async () => {
    proxy = await startMysqlProxy();
    // A sync every 20 seconds (a cron pattern with seconds): the test rides on the real schedule.
    stack = await createStack('mysqlcut', {
      BATCH_SIZE: '10',
      SYNC_CRON: '*/20 * * * * *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    stack.sim.pipedrive.seed({ orgs: 150, customerRatio: 1 });
    stack.sim.chatwoot.setFaults({ latencyMs: 100 });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,notifications', MYSQL_PORT: String(proxy.port) }), {
      console: false,
      timing: { ...FAST, retryBudgetMs: BUDGET_MS },
    });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await proxy?.close();
    await stack?.close();
  });

  it('the run ends failed with an alert, and the next scheduled sync completes with every contact right', async () => {
    const ds = await stack.ds(); // the test's own connection, not through the proxy
    const first = await waitFor(
      async () =>
        (await ds.getRepository(RunEntity).findOne({ where: { type: 'sync' }, order: { startedAt: 'ASC' } })) ??
        undefined,
      { timeoutMs: 30_000, what: 'the scheduled run' },
    );
    await runWhere(stack, first.id, (r) => r.batchesDone >= 2, 60_000, 'two batches');

    await proxy.cut();
    const cutAt = Date.now();
    // Longer than the budget: the batches that try give up, the rest fail as they start.
    await sleep(BUDGET_MS * 4);
    await proxy.restore();
    const restoredAt = Date.now();

    const failed = await runWhere(stack, first.id, (r) => r.status !== 'running', 5 * 60_000, 'the run to end');
    const endedAfter = since(restoredAt);
    expect(failed).toMatchObject({ status: 'failed', errorKind: 'database', errorType: 'database connection failure' });
    const fp = 'sync:failed:database-connection-failure';
    await waitFor(() => incident(stack, fp).length || undefined, { timeoutMs: 30_000, what: 'the alert' });
    const alertAfter = since(restoredAt);
    expect(incident(stack, fp)).toEqual(['firing']);

    // The next scheduled run (within one interval) is not held up and puts everything right.
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    const next = await waitFor(
      async () => {
        const runs = await ds.getRepository(RunEntity).find({ where: { type: 'sync' }, order: { startedAt: 'ASC' } });
        const later = runs.filter((r) => r.startedAt > failed.startedAt && r.mode !== 'webhook');
        return later.find((r) => r.status === 'succeeded' || r.status === 'partial');
      },
      { timeoutMs: 150_000, intervalMs: 500, what: 'the next scheduled sync to complete' },
    );
    expect(next.failed).toBe(0);
    expect(next.startedAt.getTime() - failed.finishedAt!.getTime()).toBeLessThan(25_000);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    // The good run resolves the incident, in its thread.
    await waitFor(() => incident(stack, fp).length >= 2 || undefined, {
      timeoutMs: 30_000,
      what: 'the resolved message',
    });
    expect(incident(stack, fp)).toEqual(['firing', 'resolved']);
    console.log(
      `mysql-outage figures: cut ${Math.round((restoredAt - cutAt) / 1000)} s; run failed ${endedAfter} s and alert ${alertAfter} s after the database was back; next run started ${Math.round((next.startedAt.getTime() - failed.finishedAt!.getTime()) / 1000)} s after that`,
    );
  }, 300_000);
});
