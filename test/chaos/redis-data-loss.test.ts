import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wantedSchedules } from '../../packages/jobs/src/index.js';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { startRedis, type OwnRedis } from '../support/chaos.js';
import { runCli } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { waitFor } from '../support/index.js';
import { FAST, QUIET_SCHEDULES, messagesMatching, runWhere, since, sleep } from './harness.js';

/**
 * Redis restarted without its data in the middle of a run (a restart without persistence, a
 * failover to an empty replica): the job schedulers come back within 2 minutes with one WARNING,
 * the run that lost its jobs is ended, and the next full sync completes with no duplicate.
 */
describe('chaos: Redis loses its data mid-run', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let worker: RunningWorker;
  beforeAll(async () => {
    redis = await startRedis({ persist: false });
    stack = await createStack('redisloss', { REDIS_URL: redis.url, BATCH_SIZE: '10', ...QUIET_SCHEDULES });
    stack.sim.pipedrive.seed({ orgs: 200, customerRatio: 1 });
    // Production's scheduler reconciliation (every 30 s): the 2-minute promise is the point here.
    worker = await startWorker(stack.config(), { console: false, timing: FAST });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await redis?.close();
    await stack?.close();
  });

  it('schedulers back within 2 minutes with one WARNING; the stuck run ended; the next full sync completes', async () => {
    const config = stack.config();
    const wanted = wantedSchedules(config, config.workerQueues)
      .map((w) => w.id)
      .sort();
    stack.sim.chatwoot.setFaults({ latencyMs: 100 });
    const queued = await runCli(['sync', '--full', '--json'], stack.env);
    const { runId } = JSON.parse(queued.stdout) as { runId: string };
    await runWhere(stack, runId, (r) => r.listingComplete && r.batchesDone >= 2, 60_000, 'two batches');

    await redis.restartWithoutData();
    const lostAt = Date.now();
    const schedulers = async () => {
      const all = await Promise.all(Object.values(worker.ctx.queues).map((q) => q.getJobSchedulers().catch(() => [])));
      return all
        .flat()
        .map((s) => s.key)
        .sort();
    };
    await waitFor(async () => (JSON.stringify(await schedulers()) === JSON.stringify(wanted) ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'every job scheduler back',
    });
    const schedulersAfter = since(lostAt);

    const run = await runWhere(stack, runId, (r) => r.status !== 'running', 120_000, 'the stuck run to end');
    const runEndedAfter = since(lostAt);
    expect(run).toMatchObject({ status: 'failed', errorKind: 'lost' });

    const lost = () => messagesMatching(stack, /^⚠️ WARNING: Scheduled work was lost/);
    await waitFor(() => lost().length || undefined, { timeoutMs: 30_000, what: 'the WARNING' });
    const warningAfter = since(lostAt);
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    const next = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 120_000);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ failed: 0, mode: 'full' });
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    await sleep(2_000);
    expect(lost()).toHaveLength(1);
    console.log(
      `redis-data-loss figures: schedulers back ${schedulersAfter} s, WARNING ${warningAfter} s, stuck run ended ${runEndedAfter} s after the loss; messages: ${stack.sim.gchat
        .messages()
        .map((m) => (m.fallbackText ?? '').slice(0, 40))
        .join(' | ')}`,
    );
  }, 300_000);
});
