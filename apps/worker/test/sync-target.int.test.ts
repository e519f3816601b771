import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationEntity, RunEntity } from '@pcs/db';
import { enqueue } from '@pcs/queues';
import { syncBatchJob, syncOrgJob, syncRunJob } from '@pcs/jobs';
import { createSimulator, SIM_DEFAULTS, type Simulator } from '../../simulator/src/index.js';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { waitFor } from '../../../test/support/index.js';
import { targetOf } from '@pcs/sync';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';

/**
 * The path a new user takes: try the tool against the simulator, then point .env at the real
 * accounts. Contact ids stored for one Chatwoot must never be used to write to another.
 */
describe('pointing the sync at other accounts', () => {
  let stack: TestStack;
  let other: Simulator;

  async function withWorker<T>(env: Record<string, string>, fn: (w: RunningWorker) => Promise<T>): Promise<T> {
    const worker = await startWorker(
      stack.config({ WORKER_QUEUES: 'sync', SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', ...env }),
      { console: false },
    );
    try {
      return await fn(worker);
    } finally {
      await worker.stop('test');
    }
  }
  const syncWith = (env: Record<string, string>) =>
    withWorker(env, async (worker) => {
      const runId = randomUUID();
      await enqueue(worker.ctx.queues, syncRunJob, { mode: 'incremental', trigger: 'test', runId });
      return stack.waitForRun(runId, 60_000);
    });
  const otherChatwoot = () => ({
    CHATWOOT_BASE_URL: `${other.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
  });

  beforeAll(async () => {
    stack = await createStack('target');
    stack.sim.pipedrive.seed({ orgs: 12, personsPerOrg: 1, customerRatio: 1, seed: 3 });
    other = createSimulator({ seed: 9 });
    await other.start();
    // The "real" Chatwoot already holds people of its own, with the low ids the first one used.
    for (let i = 1; i <= 8; i++)
      other.chatwoot.createContact({ name: `Real Person ${i}`, email: `real${i}@example.com` });
  });
  afterAll(async () => {
    await other?.stop();
    await stack?.close();
  });

  it("forgets the old Chatwoot contact ids, leaves the new account's contacts alone, and finds or creates each contact by identifier", async () => {
    const first = await syncWith({});
    expect(first.status).toBe('succeeded');
    expect(first.created).toBe(12);
    const ds = await stack.ds();
    expect((await ds.getRepository(OrganizationEntity).findBy({})).every((o) => o.chatwootContactId !== null)).toBe(
      true,
    );

    const before = other.chatwoot.listAllContacts().map((c) => ({ id: c.id, name: c.name, identifier: c.identifier }));
    const moved = await syncWith({
      CHATWOOT_BASE_URL: `${other.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
    });
    expect(moved.status).toBe('succeeded');
    expect(moved.mode).toBe('full'); // an incremental run would leave the unchanged organizations behind
    expect(moved.created).toBe(12);
    expect((moved.details as { targetChanged?: { forgotten: string } }).targetChanged?.forgotten).toBe('contact ids');
    // Not one of the account's own contacts was touched.
    const after = other.chatwoot.listAllContacts();
    for (const c of before) expect(after.find((a) => a.id === c.id)).toMatchObject(c);
    expect(after.filter((c) => c.identifier?.startsWith('pipedrive:org:'))).toHaveLength(12);
    const ids = new Set(after.filter((c) => c.identifier?.startsWith('pipedrive:org:')).map((c) => c.id));
    expect((await ds.getRepository(OrganizationEntity).findBy({})).every((o) => ids.has(o.chatwootContactId!))).toBe(
      true,
    );

    // The same target again: nothing forgotten, nothing written.
    const again = await syncWith({
      CHATWOOT_BASE_URL: `${other.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
    });
    expect(again.status).toBe('succeeded');
    expect((again.details as { targetChanged?: unknown }).targetChanged).toBeUndefined();
    expect(again.created + again.updated).toBe(0);
  });

  it('ends a run of the old target that is still in progress without one more write, and a webhook noticing the change first still leads to a full listing', async () => {
    const ds = await stack.ds();
    const orgIds = (await ds.getRepository(OrganizationEntity).findBy({})).map((o) => o.id).sort((a, b) => a - b);
    // Back to the first Chatwoot, noticed first by a webhook's targeted upsert.
    await withWorker({}, async (worker) => {
      const job = await enqueue(worker.ctx.queues, syncOrgJob, { orgId: orgIds[0]!, trigger: 'test' });
      await waitFor(async () => ((await job.getState()) === 'completed' ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the targeted upsert',
      });
    });
    // A run that had listed for the other Chatwoot still has a batch queued.
    const stale = randomUUID();
    const listedFor = JSON.stringify(targetOf(stack.config(otherChatwoot())));
    await ds.getRepository(RunEntity).insert({
      id: stale,
      type: 'sync',
      mode: 'full',
      trigger: 'test',
      status: 'running',
      startedAt: new Date(),
      listingStartedAt: new Date(Date.now() - 60_000),
      listingComplete: true,
      batchesTotal: 1,
      details: { legacyLookup: true, requestedMode: 'full', target: listedFor } as never,
    });
    const before = stack.sim.stats().byApi.chatwoot.requests;
    await withWorker({}, async (worker) => {
      await enqueue(worker.ctx.queues, syncBatchJob, { runId: stale, batch: 0, orgIds });
      const ended = await stack.waitForRun(stale, 30_000);
      expect(ended.status).toBe('failed');
      expect(ended.errorMessage).toMatch(/sync target .* changed while this run was in progress/);
    });
    expect(stack.sim.stats().byApi.chatwoot.requests).toBe(before);

    // The webhook recorded the change; the next scheduled (incremental) run still lists everything.
    const next = await syncWith({});
    expect(next.status).toBe('succeeded');
    expect(next.mode).toBe('full');
    expect(next.processed).toBe(12);
    expect(stack.sim.chatwoot.listAllContacts().filter((c) => c.identifier?.startsWith('pipedrive:org:'))).toHaveLength(
      12,
    );
  });

  it("drops the mirror of another Pipedrive, so organizations of the old account are not synced as the new one's", async () => {
    other.pipedrive.seed({ orgs: 5, personsPerOrg: 1, customerRatio: 1, seed: 11 });
    const env = {
      PIPEDRIVE_BASE_URL: other.pipedriveBaseUrl,
      CHATWOOT_BASE_URL: `${other.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
    };
    const run = await syncWith(env);
    expect(run.status).toBe('succeeded');
    expect((run.details as { targetChanged?: { forgotten: string } }).targetChanged?.forgotten).toBe('mirror');
    const ds = await stack.ds();
    const orgs = await ds.getRepository(OrganizationEntity).findBy({});
    expect(orgs.map((o) => o.name).sort()).toEqual(
      other.pipedrive
        .listOrgs()
        .map((o) => o.name)
        .sort(),
    );
    expect(run.processed).toBe(5);
  });
});
