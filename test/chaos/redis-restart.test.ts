import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { startRedis, type OwnRedis } from '../support/chaos.js';
import { runCli } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { QUIET_SCHEDULES, runWhere, since } from './harness.js';

/** Redis down for 10 s, back with its data, in the middle of a run: no record fails, the run completes. */
describe('chaos: Redis restarted with its data mid-run', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let worker: RunningWorker;
  beforeAll(async () => {
    redis = await startRedis({ persist: true });
    stack = await createStack('redisblip', { REDIS_URL: redis.url, BATCH_SIZE: '10', ...QUIET_SCHEDULES });
    stack.sim.pipedrive.seed({ orgs: 200, customerRatio: 1 });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await redis?.close();
    await stack?.close();
  });

  it('no record fails and the run completes', async () => {
    stack.sim.chatwoot.setFaults({ latencyMs: 60 });
    const queued = await runCli(['sync', '--full', '--json'], stack.env);
    const { runId } = JSON.parse(queued.stdout) as { runId: string };
    await runWhere(stack, runId, (r) => r.batchesDone >= 2, 60_000, 'two batches');
    const downAt = Date.now();
    await redis.restartWithData(10_000);
    const run = await runWhere(stack, runId, (r) => r.status !== 'running', 180_000, 'the run to end');
    expect(['succeeded', 'partial']).toContain(run.status);
    expect(run.failed).toBe(0);
    expect(run.processed).toBe(200);
    const ds = await stack.ds();
    const [{ n }] = (await ds.query(
      "SELECT COUNT(*) AS n FROM record_outcomes WHERE run_id = ? AND outcome = 'failed'",
      [runId],
    )) as [{ n: string }];
    expect(Number(n)).toBe(0);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    console.log(
      `redis-restart figures: run ${run.status} ${since(downAt)} s after Redis went down for 10 s; ${run.processed} processed, 0 failed`,
    );
  }, 300_000);
});
