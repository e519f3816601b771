import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli, spawnTestWorker, type AppProcess } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { REDIS_URL, waitFor } from '../support/index.js';
import { FAST, QUIET_SCHEDULES, incident, runWhere, since } from './harness.js';

/**
 * The worker SIGKILLed twice while it holds the same batch: BullMQ fails the job without calling
 * any handler (stalled more than allowed), so nothing records the failure but the reaper, which
 * ends the run as `failed` and lets the next run go. Production timings: a 30 s job lock, a
 * 2-minute lease and a 30 s reaper, so at most about 4 minutes; here they are shortened.
 */
describe('chaos: a worker killed twice holding the same batch', () => {
  let stack: TestStack;
  const procs: AppProcess[] = [];
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  let queue: Queue;
  const TIMING = { ...FAST, jobLockMs: 3_000 };
  const start = (queues = 'sync') => {
    const p = spawnTestWorker({ ...stack.env, WORKER_QUEUES: queues }, TIMING);
    procs.push(p);
    return p;
  };
  beforeAll(async () => {
    stack = await createStack('killtwice', { BATCH_SIZE: '25', ...QUIET_SCHEDULES });
    stack.sim.pipedrive.seed({ orgs: 50, customerRatio: 1 });
    queue = new Queue('sync', { connection: redis, prefix: stack.prefix });
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
  });
  afterAll(async () => {
    await queue?.close();
    redis.disconnect();
    await stack?.close();
  });

  /** Waits until a batch of the run is being processed (for the `nth` time) and returns its job id. */
  async function heldBatch(runId: string, nth: number, id?: string): Promise<string> {
    return waitFor(
      async () => {
        const active = await queue.getJobs(['active']);
        const job = active.find(
          (j) => j.name === 'sync-batch' && (j.data as { runId: string }).runId === runId && (!id || j.id === id),
        );
        return job && (nth === 1 || (job.stalledCounter ?? 0) >= 1) ? job.id! : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `a batch held (time ${nth})` },
    );
  }

  it('the run ends failed within minutes, an alert goes out, and the next run is not blocked', async () => {
    // Slow writes: a batch takes long enough to be killed in the middle of.
    stack.sim.chatwoot.setFaults({ latencyMs: 1_500 });
    const first = start();
    await first.waitFor('"worker ready"');
    const queued = await runCli(['sync', '--full', '--json'], stack.env);
    const { runId } = JSON.parse(queued.stdout) as { runId: string };
    await runWhere(stack, runId, (r) => r.listingComplete, 30_000, 'the listing');
    const batch = await heldBatch(runId, 1);
    await first.stop('SIGKILL');
    const second = start();
    await second.waitFor('"worker ready"');
    await heldBatch(runId, 2, batch);
    await second.stop('SIGKILL');
    const killedAt = Date.now();
    // A worker that is alive, to notice, reap and deliver the alert.
    const third = start('sync,notifications');
    await third.waitFor('"worker ready"');

    const run = await runWhere(stack, runId, (r) => r.status !== 'running', 5 * 60_000, 'the run to end');
    const endedAfter = since(killedAt);
    expect(run).toMatchObject({ status: 'failed', errorKind: 'lost' });
    expect(run.errorMessage).toMatch(/failed for good/);
    const job = await queue.getJob(batch);
    expect(await job!.getState()).toBe('failed');
    const fp = 'sync:failed:system-error';
    await waitFor(() => incident(stack, fp).length || undefined, { timeoutMs: 30_000, what: 'the alert' });
    expect(incident(stack, fp)).toEqual(['firing']);

    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    const next = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 120_000);
    expect(next.code, next.stderr + third.output().slice(-2000)).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ failed: 0 });
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    console.log(
      `killed-twice figures: run failed ${endedAfter} s after the second kill (job lock ${TIMING.jobLockMs / 1000} s, lease ${TIMING.leaseSeconds} s); alert messages: ${incident(stack, fp).length}`,
    );
  }, 300_000);
});
