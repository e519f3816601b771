import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJobs } from '../../packages/jobs/src/index.js';
import { enqueue } from '../../packages/queues/src/index.js';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { startRedis, type OwnRedis } from '../support/chaos.js';
import { waitFor } from '../support/index.js';
import { FAST, QUIET_SCHEDULES, incident, since, sleep } from './harness.js';

/** Redis unreachable for 10 s just as an alert fires: it is delivered afterwards, once. */
describe('chaos: an alert raised while Redis is away', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let worker: RunningWorker;
  beforeAll(async () => {
    redis = await startRedis({ persist: true });
    stack = await createStack('outbox', { REDIS_URL: redis.url, ...QUIET_SCHEDULES });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'monitor,notifications' }), {
      console: false,
      timing: FAST,
    });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await redis?.close();
    await stack?.close();
  });

  it('is kept with its state and delivered once Redis is back', async () => {
    // The check meets a revoked token slowly: Redis goes away while it is looking.
    stack.sim.pipedrive.setFaults({ badToken: true, latencyMs: 3_000 });
    const job = await enqueue(worker.ctx.queues, checkJobs['pipedrive-api'], { trigger: 'test' });
    await waitFor(async () => (await job.getState()) === 'active' || undefined, { what: 'the check to start' });
    await redis.stop();
    const downAt = Date.now();
    // The check ends and fires while Redis is down: the message waits in the outbox.
    const ds = await stack.ds();
    const pending = async () =>
      Number(
        ((await ds.query('SELECT COUNT(*) AS n FROM alert_outbox WHERE relayed_at IS NULL')) as [{ n: string }])[0].n,
      );
    await waitFor(async () => (await pending()) === 1 || undefined, {
      timeoutMs: 15_000,
      what: 'the alert in the outbox',
    });
    await sleep(Math.max(0, 10_000 - (Date.now() - downAt)));
    expect(incident(stack, 'monitor:pipedrive-api')).toEqual([]);
    await redis.start();
    const upAt = Date.now();
    await waitFor(() => incident(stack, 'monitor:pipedrive-api').length || undefined, {
      timeoutMs: 30_000,
      what: 'the delivery',
    });
    const deliveredAfter = since(upAt);
    await sleep(3_000);
    expect(incident(stack, 'monitor:pipedrive-api')).toEqual(['firing']);
    expect(await pending()).toBe(0);
    console.log(
      `alert-outbox figures: Redis down ${Math.round((upAt - downAt) / 1000)} s; delivered ${deliveredAfter} s after it was back; 1 message`,
    );
  }, 120_000);
});
