import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RunEntity } from '@pcs/db';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { REDIS_URL, waitFor } from '../../../test/support/index.js';

/** End to end: real worker processes, the CLI, SIGKILL. */
describe('sync end to end', () => {
  let stack: TestStack;
  const procs: AppProcess[] = [];
  const start = (extra: Record<string, string> = {}) => {
    const p = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync', ...extra });
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    stack = await createStack('e2e', { BATCH_SIZE: '20', SYNC_CRON: '0 0 1 1 *' });
    stack.sim.pipedrive.seed({ orgs: 400, customerRatio: 1 });
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
  });
  afterAll(async () => {
    await stack?.close();
  });

  function assertOneContactPerCustomer() {
    const customers = stack.sim.pipedrive.listOrgs().filter((o) => !o.is_deleted && o.label_ids.includes(17));
    const contacts = stack.sim.chatwoot.listAllContacts();
    const identifiers = contacts.map((c) => c.identifier);
    expect(new Set(identifiers).size).toBe(identifiers.length);
    const byId = new Set(identifiers);
    const missing = customers.filter((o) => !byId.has(`pipedrive:org:${o.id}`));
    expect(missing).toEqual([]);
    const customerIds = new Set(customers.map((o) => `pipedrive:org:${o.id}`));
    expect(contacts.filter((c) => !customerIds.has(c.identifier ?? ''))).toEqual([]);
    expect(contacts).toHaveLength(customers.length);
  }

  it('a worker killed with SIGKILL mid-run: a new one finishes the run, every org synced once', async () => {
    stack.sim.chatwoot.setFaults({ latencyMs: 15 });
    const first = start();
    await first.waitFor('"worker ready"');
    const cli = await runCli(['sync', '--full', '--json'], stack.env);
    expect(cli.code).toBe(0);
    const { runId } = JSON.parse(cli.stdout) as { runId: string };
    const ds = await stack.ds();
    await waitFor(
      async () => {
        const run = await ds.getRepository(RunEntity).findOneBy({ id: runId });
        return run && run.batchesDone >= 3 ? run : undefined;
      },
      { timeoutMs: 30_000, what: 'a few batches done' },
    );
    expect(await first.stop('SIGKILL')).not.toBe(0);
    const before = await ds.getRepository(RunEntity).findOneByOrFail({ id: runId });
    expect(before.status).toBe('running');

    const second = start();
    await second.waitFor('"worker ready"');
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    // The killed worker's jobs come back when their lock expires (30 s) and the stalled check runs.
    const run = await stack.waitForRun(runId, 120_000);
    // the seeded data holds a few phone numbers that are not numbers: partial, never failed
    expect(['succeeded', 'partial']).toContain(run.status);
    expect(run.failed).toBe(0);
    expect(run.processed).toBe(400);
    assertOneContactPerCustomer();
    expect(await second.stop()).toBe(0);
  }, 180_000);

  it('two workers share one run: same final state, no duplicates', async () => {
    stack.sim.pipedrive.seed({ orgs: 200, customerRatio: 1 });
    stack.sim.chatwoot.setFaults({ latencyMs: 5 });
    const [a, b] = [start(), start()];
    await Promise.all([a.waitFor('"worker ready"'), b.waitFor('"worker ready"')]);
    const cli = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 120_000);
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    expect(cli.code, cli.stderr + a.output().slice(-2000)).toBe(0);
    const summary = JSON.parse(cli.stdout);
    expect(summary).toMatchObject({ failed: 0, mode: 'full' });
    expect(['succeeded', 'partial']).toContain(summary.status);
    expect(summary.created).toBe(200);
    expect(summary.unchanged).toBe(400);
    assertOneContactPerCustomer();
    // both workers took batches
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    const q = new Queue('sync', { connection: redis, prefix: stack.prefix });
    const done = await q.getJobs(['completed'], 0, 1000);
    const workers = new Set(
      done.filter((j) => j.name === 'sync-batch' && j.data.runId === summary.runId).map((j) => j.processedBy),
    );
    await q.close();
    redis.disconnect();
    expect(workers.size).toBe(2);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  }, 180_000);
});
