import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { QUIET_SCHEDULES, messagesMatching, runWhere, sleep } from './harness.js';

/** An operator ends a run that is in progress: `manage runs abort`. */
describe('chaos: manage runs abort', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  beforeAll(async () => {
    stack = await createStack('abort', { BATCH_SIZE: '10', ...QUIET_SCHEDULES });
    stack.sim.pipedrive.seed({ orgs: 200, customerRatio: 1 });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('ends a running run as failed (aborted), removes its pending jobs, and the next sync runs', async () => {
    stack.sim.chatwoot.setFaults({ latencyMs: 150 });
    const queued = await runCli(['sync', '--full', '--json'], stack.env);
    const { runId } = JSON.parse(queued.stdout) as { runId: string };
    await runWhere(stack, runId, (r) => r.listingComplete && r.batchesDone >= 1, 60_000, 'the first batch');

    const aborted = await runCli(['runs', 'abort', runId, '--json'], stack.env);
    expect(aborted.code, aborted.stderr).toBe(0);
    const doc = JSON.parse(aborted.stdout) as { run: { status: string; errorKind: string }; removedJobs: string[] };
    expect(doc.run).toMatchObject({ status: 'failed', errorKind: 'aborted' });
    expect(doc.removedJobs.length).toBeGreaterThan(0);
    // Nothing of it waits in the queue any more; the batches that were running finish their step and stop.
    const pending = await worker.ctx.queues.sync.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(pending.filter((j) => (j.data as { runId?: string }).runId === runId)).toEqual([]);
    const ds = await stack.ds();
    const count = async () =>
      Number(
        ((await ds.query('SELECT COUNT(*) AS n FROM record_outcomes WHERE run_id = ?', [runId])) as [{ n: string }])[0]
          .n,
      );
    await sleep(4_000);
    const settled = await count();
    await sleep(2_000);
    expect(await count()).toBe(settled);
    expect(settled).toBeLessThan(200);

    const list = await runCli(['runs', '--json'], stack.env);
    const runs = (JSON.parse(list.stdout) as { runs: { runId: string; status: string; errorKind: string }[] }).runs;
    expect(runs.find((r) => r.runId === runId)).toMatchObject({ status: 'failed', errorKind: 'aborted' });
    expect((await runCli(['runs', 'abort', runId], stack.env)).code).toBe(1);

    // The next sync is not held up, and puts everything right.
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    const next = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 120_000);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ failed: 0 });
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    // An operator's abort is not an incident: no alert.
    expect(messagesMatching(stack, /Sync run failed/)).toEqual([]);
  }, 180_000);
});
