import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RunEntity } from '@pcs/db';
import { enqueue } from '@pcs/queues';
import { cleanupRunJob, syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { REDIS_URL, waitFor } from '../../../test/support/index.js';
import { SIM_DEFAULTS, seedDemoAccount } from '../../simulator/src/index.js';

describe('cleanup', () => {
  let stack: TestStack;
  let worker: RunningWorker | undefined;
  const ids: Record<string, number> = {};
  const contact = (orgId: number) =>
    stack.sim.chatwoot.listAllContacts().filter((c) => c.identifier === `pipedrive:org:${orgId}`);

  async function restart(extra: Record<string, string> = {}) {
    await worker?.stop('test');
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,cleanup', ...extra }), { console: false });
  }
  async function sync(mode: 'full' | 'incremental' = 'full') {
    const runId = randomUUID();
    await enqueue(worker!.ctx.queues, syncRunJob, { mode, trigger: 'test', runId });
    return stack.waitForRun(runId);
  }
  async function cleanup(opts: { dryRun?: boolean; force?: boolean; mergeDuplicates?: boolean } = {}) {
    const runId = randomUUID();
    await enqueue(worker!.ctx.queues, cleanupRunJob, {
      dryRun: false,
      force: false,
      mergeDuplicates: false,
      ...opts,
      trigger: 'test',
      runId,
    });
    const run = await stack.waitForRun(runId, 60_000);
    return {
      run,
      details: run.details as {
        affected: { orgId: number; contactId: number; action: string; result: string }[];
        duplicates: { orgId: number; canonicalContactId: number; duplicateContactIds: number[] }[];
        orphans: unknown[];
        refused?: string;
      },
    };
  }

  beforeAll(async () => {
    stack = await createStack('cleanup', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      CLEANUP_MAX_PERCENT: '50',
    });
    for (let i = 1; i <= 8; i++) {
      const name = ['labelRemoved', 'deleted', 'softDeleted', 'merged', 'survivor', 'stays1', 'stays2', 'stays3'][
        i - 1
      ]!;
      ids[name] = stack.sim.pipedrive.upsertOrg({ name: `Org ${name}`, label_ids: [17] }).id;
      stack.sim.pipedrive.upsertPerson({
        org_id: ids[name],
        name: `Person ${name}`,
        emails: [`${name.toLowerCase()}@example.test`],
      });
    }
    await restart();
    const first = await sync();
    expect(first.created).toBe(8);
    for (const name of ['labelRemoved', 'deleted', 'softDeleted', 'merged'])
      stack.sim.chatwoot.addConversation(contact(ids[name]!)[0]!.id);
    // Pipedrive changes: a label removed, an org deleted for good, one soft-deleted, one merged into another.
    stack.sim.pipedrive.setCustomerLabel(ids.labelRemoved!, false);
    stack.sim.pipedrive.purgeOrg(ids.deleted!);
    stack.sim.pipedrive.deleteOrg(ids.softDeleted!);
    stack.sim.pipedrive.mergeOrgs(ids.merged!, ids.survivor!);
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  const stale = () => ['labelRemoved', 'deleted', 'softDeleted', 'merged'].map((n) => ids[n]!).sort((a, b) => a - b);

  it('a dry run changes nothing and lists exactly the contacts of the organizations that stopped being customers', async () => {
    stack.sim.resetStats();
    const { run, details } = await cleanup({ dryRun: true });
    expect(run.status).toBe('succeeded');
    expect(details.affected.map((a) => a.orgId)).toEqual(stale());
    expect(details.affected.every((a) => a.result === 'would' && a.action === 'mark')).toBe(true);
    const writes = Object.entries(stack.sim.stats().byApi.chatwoot.byRoute).filter(
      ([k]) => /^(PUT|PATCH|DELETE|POST) /.test(k) && !k.endsWith('/filter'),
    );
    expect(writes).toEqual([]);
    for (const id of stale()) expect(contact(id)[0]!.custom_attributes.status).toBe('Customer');
  });

  it('refuses above CLEANUP_MAX_PERCENT, changes nothing and queues a WARNING alert; --force proceeds', async () => {
    await restart({ CLEANUP_MAX_PERCENT: '10' });
    const { run, details } = await cleanup();
    expect(run.status).toBe('refused');
    expect(details.refused).toMatch(/4 of 8 managed contacts \(50\.0%\)/);
    for (const id of stale()) expect(contact(id)[0]!.custom_attributes.status).toBe('Customer');
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    const q = new Queue('notifications', { connection: redis, prefix: stack.prefix });
    // The alert is committed with its state and relayed to the queue right after (the outbox).
    const alert = await waitFor(
      async () =>
        (await q.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).find(
          (j) => j.data.fingerprint === 'cleanup:refused',
        ),
      { timeoutMs: 10_000, what: 'the cleanup:refused alert on the notifications queue' },
    ).finally(async () => {
      await q.close();
      redis.disconnect();
    });
    expect(alert?.data).toMatchObject({
      script: 'cleanup',
      level: 'WARNING',
      error_type: 'cleanup refused',
      details: { affected_count: 4, managed_contacts: 8 },
    });
    expect(alert.data.message).toMatch(/4 of 8/);
  });

  it('marks them Former customer, conversations kept; the rest untouched', async () => {
    const { run } = await cleanup({ force: true });
    expect(run).toMatchObject({ status: 'succeeded', marked: 4, deleted: 0, failed: 0 });
    for (const id of stale()) {
      const [c] = contact(id);
      expect(c!.custom_attributes.status).toBe('Former customer');
      expect(stack.sim.chatwoot.conversations(c!.id)).toHaveLength(1);
    }
    for (const n of ['survivor', 'stays1', 'stays2', 'stays3'])
      expect(contact(ids[n]!)[0]!.custom_attributes.status).toBe('Customer');
    await restart();
    // a second run has nothing left to mark
    const again = await cleanup();
    expect(again.run).toMatchObject({ status: 'succeeded', marked: 0 });
  });

  it('an organization that becomes a customer again is Customer after the next sync', async () => {
    stack.sim.pipedrive.setCustomerLabel(ids.labelRemoved!, true);
    const run = await sync('incremental');
    expect(run.failed).toBe(0);
    expect(contact(ids.labelRemoved!)[0]!.custom_attributes.status).toBe('Customer');
    // the ones still gone stay Former customer
    for (const n of ['deleted', 'softDeleted', 'merged'])
      expect(contact(ids[n]!)[0]!.custom_attributes.status).toBe('Former customer');
  });

  it('a listing that breaks midway changes nothing and fails the run', async () => {
    stack.sim.pipedrive.setCustomerLabel(ids.stays1!, false);
    stack.sim.pipedrive.setFaults({ failAfterPages: 0 });
    const { run } = await cleanup({ force: true });
    stack.sim.pipedrive.clearFaults();
    expect(run.status).toBe('failed');
    expect(run.errorMessage).toMatch(/nothing changed/);
    expect(contact(ids.stays1!)[0]!.custom_attributes.status).toBe('Customer');
  }, 60_000);

  it('finds duplicates of one organization and merges them into the canonical contact, keeping conversations', async () => {
    const dup = stack.sim.chatwoot.seedContact({
      name: 'Org stays2 (old copy)',
      email: 'old-copy@example.test',
      custom_attributes: { pipedrive_org_id: ids.stays2 },
    });
    stack.sim.chatwoot.addConversation(dup.id);
    const canonical = contact(ids.stays2!)[0]!;
    const report = await cleanup({ dryRun: true });
    expect(report.details.duplicates).toEqual([
      { orgId: ids.stays2, canonicalContactId: canonical.id, duplicateContactIds: [dup.id] },
    ]);
    const merged = await cleanup({ mergeDuplicates: true, force: true });
    expect(merged.details.affected.find((a) => a.action === 'merge')).toMatchObject({
      contactId: dup.id,
      result: 'merged',
    });
    expect(stack.sim.chatwoot.getContact(dup.id)).toBeUndefined();
    expect(stack.sim.chatwoot.conversations(canonical.id).length).toBeGreaterThanOrEqual(1);
  });

  it('delete mode reports a non-administrator token clearly, and deletes with an administrator', async () => {
    await restart({ CLEANUP_ACTION: 'delete', CHATWOOT_API_KEY: SIM_DEFAULTS.chatwootAgentToken });
    const denied = await cleanup({ force: true });
    expect(denied.run.status).toBe('partial');
    const rows = await (
      await stack.ds()
    ).query('SELECT outcome, error_type, message FROM record_outcomes WHERE run_id = ?', [denied.run.id]);
    expect(rows[0]).toMatchObject({ outcome: 'failed', error_type: 'forbidden' });
    expect(rows[0].message).toMatch(/administrator/);
    await restart({ CLEANUP_ACTION: 'delete' });
    const deleted = await cleanup({ force: true });
    expect(deleted.run.deleted).toBeGreaterThanOrEqual(1);
    expect(contact(ids.stays1!)).toHaveLength(0);
  });

  it('never runs at the same time as a sync run', async () => {
    await restart();
    stack.sim.chatwoot.setFaults({ latencyMs: 40 });
    stack.sim.pipedrive.seed({ orgs: 150, customerRatio: 1 });
    const syncId = randomUUID();
    await enqueue(worker!.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId: syncId });
    await new Promise((r) => setTimeout(r, 300));
    const cleanupId = randomUUID();
    await enqueue(worker!.ctx.queues, cleanupRunJob, {
      dryRun: true,
      force: false,
      mergeDuplicates: false,
      trigger: 'test',
      runId: cleanupId,
    });
    const s = await stack.waitForRun(syncId, 90_000);
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    const c = await stack.waitForRun(cleanupId, 120_000);
    expect(c.startedAt.getTime()).toBeGreaterThanOrEqual(s.finishedAt!.getTime());
    const overlapping = await (await stack.ds()).getRepository(RunEntity).find();
    for (const a of overlapping.filter((r) => r.type === 'cleanup'))
      for (const b of overlapping.filter((r) => r.type === 'sync' && r.mode !== 'webhook'))
        expect(a.startedAt >= (b.finishedAt ?? new Date()) || (a.finishedAt ?? new Date()) <= b.startedAt).toBe(true);
  }, 180_000);
});

describe('scheduled cleanup on a new installation', () => {
  it("waits for the first complete sync instead of judging the original deployment's contacts (no refusal, no alert)", async () => {
    const s = await createStack('cleanup-first', { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *' });
    // The original deployment's contacts: one of an organization that is no longer a customer.
    const account = seedDemoAccount(s.sim, { orgs: 30 });
    expect(account.formerCustomerOrgId).not.toBeNull();
    const w = await startWorker(s.config({ WORKER_QUEUES: 'sync,cleanup' }), { console: false });
    const scheduled = async () => {
      const runId = randomUUID();
      const job = await enqueue(w.ctx.queues, cleanupRunJob, {
        dryRun: false,
        force: false,
        mergeDuplicates: false,
        trigger: 'schedule',
        runId,
      });
      return waitFor(
        async () =>
          (await job.getState()) === 'completed'
            ? ((await w.ctx.queues.cleanup.getJob(job.id!))!.returnvalue as Record<string, unknown>)
            : undefined,
        { timeoutMs: 30_000, what: 'the scheduled cleanup job' },
      );
    };
    try {
      const early = await scheduled();
      expect(early).toMatchObject({ skipped: true, reason: 'no sync has completed yet' });
      const ds = await s.ds();
      expect(await ds.getRepository(RunEntity).countBy({ type: 'cleanup' })).toBe(0);
      const former = () =>
        s.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${account.formerCustomerOrgId}`)!;
      expect(former().custom_attributes.status).toBe('Customer');
      expect(s.sim.gchat.messages()).toHaveLength(0);

      const runId = randomUUID();
      await enqueue(w.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
      expect((await s.waitForRun(runId)).status).toBe('succeeded');
      const later = await scheduled();
      expect(later.reason).toBeUndefined();
      expect(former().custom_attributes.status).toBe('Former customer');
    } finally {
      await w.stop('test');
      await s.close();
    }
  });
});
