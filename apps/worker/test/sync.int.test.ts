import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordOutcomeEntity } from '@pcs/db';
import { enqueue } from '@pcs/queues';
import { syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { chatwootWrites, seedMixed } from '../../../test/support/sim-data.js';
import { waitFor } from '../../../test/support/index.js';

describe('sync against the simulator', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let seeded: ReturnType<typeof seedMixed>;
  // An outside dead man's switch (HEALTHCHECK_PING_URL): counts the pings it gets.
  const pings: string[] = [];
  let pingServer: Server;

  const contacts = () => stack.sim.chatwoot.listAllContacts();
  const contactOf = (orgId: number) => contacts().filter((c) => c.identifier === `pipedrive:org:${orgId}`);
  async function sync(mode: 'full' | 'incremental' = 'incremental', timeoutMs?: number) {
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode, trigger: 'test', runId });
    return stack.waitForRun(runId, timeoutMs);
  }

  beforeAll(async () => {
    pingServer = createServer((req, res) => {
      pings.push(`${req.method} ${req.url}`);
      res.end('ok');
    });
    await new Promise<void>((r) => pingServer.listen(0, '127.0.0.1', r));
    const pingUrl = `http://127.0.0.1:${(pingServer.address() as { port: number }).port}/ping/abc`;
    stack = await createStack('sync', {
      HEALTHCHECK_PING_URL: pingUrl,
      PIPEDRIVE_PHONE_FIELD: 'Main phone',
      PIPEDRIVE_SUPPORT_LINK_FIELD: 'Support portal',
      BATCH_SIZE: '4',
      SYNC_CRON: '0 0 1 1 *',
    });
    seeded = seedMixed(stack.sim);
    // A yearly cron: no scheduled run gets in the way of the runs these tests start.
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
    pingServer?.close();
  });

  it('a first sync gives exactly one contact per live customer org, with the right fields', async () => {
    const run = await sync('full');
    const { ids } = seeded;
    // one contact per live customer, none for the lead or the soft-deleted customer
    for (const id of seeded.liveCustomers) expect(contactOf(id), `org ${id}`).toHaveLength(1);
    expect(contactOf(ids.nonCustomer)).toHaveLength(0);
    expect(contactOf(ids.softDeleted)).toHaveLength(0);
    expect(new Set(contacts().map((c) => c.identifier)).size).toBe(contacts().length);

    const plain = contactOf(ids.plain)[0]!;
    expect(plain).toMatchObject({
      name: 'Plain Customer Pty Ltd',
      email: 'pat@plain.example',
      phone_number: '+61412000001',
      additional_attributes: { company_name: 'Plain Customer Pty Ltd', city: 'Sydney', country: 'Australia' },
      custom_attributes: {
        pipedrive_org_id: ids.plain,
        status: 'Customer',
        type: 'organization',
        pipedrive_url: `${stack.sim.pipedriveBaseUrl}/organization/${ids.plain}`,
      },
    });
    expect(contactOf(ids.noPersons)[0]).toMatchObject({ email: null, phone_number: null });
    expect(contactOf(ids.phoneField)[0]!.phone_number).toBe('+61298765432');
    expect(contactOf(ids.localNumber)[0]!.phone_number).toBe('+61412345678');
    expect(contactOf(ids.support)[0]).toMatchObject({
      email: 'second@support.example',
      custom_attributes: { support_link: 'https://help.example/acme' },
    });
    // two orgs sharing one phone: one holds it, the other is written without it
    const phones = [contactOf(ids.sharedA)[0]!.phone_number, contactOf(ids.sharedB)[0]!.phone_number];
    expect(phones.filter((p) => p === '+61413222333')).toHaveLength(1);
    expect(phones).toContain(null);
    expect(contactOf(ids.invalidEmail)[0]).toMatchObject({ email: null, phone_number: '+61414555666' });
    expect(contactOf(ids.emoji)[0]!.name).toBe('Rocket 🚀 Café');
    expect(contactOf(ids.rtl)[0]!.name).toBe('شركة الاختبار المحدودة');
    expect(contactOf(ids.long)[0]!.name).toBe('L'.repeat(300));
    // the original deployment's contact is adopted, conversations kept, not duplicated
    const legacy = contactOf(ids.legacy);
    expect(legacy).toHaveLength(1);
    expect(legacy[0]!.id).toBe(seeded.legacyContactId);
    expect(contacts().filter((c) => c.custom_attributes?.pipedrive_org_id === ids.legacy)).toHaveLength(1);
    expect(stack.sim.chatwoot.conversations(seeded.legacyContactId)).toHaveLength(1);

    expect(run.status).toBe('partial'); // the shared phone and the invalid email are warnings
    await waitFor(() => pings.length > 0 || undefined, { what: 'the healthcheck ping' });
    expect(pings).toEqual(['GET /ping/abc']);
    expect(run).toMatchObject({ processed: seeded.liveCustomers.length, adopted: 1, failed: 0, warnings: 2 });
    expect(run.created).toBe(seeded.liveCustomers.length - 1);
    const ds = await stack.ds();
    const outcomes = await ds.getRepository(RecordOutcomeEntity).findBy({ runId: run.id, outcome: 'warning' });
    expect(outcomes.map((o) => o.message).join(' ')).toMatch(/phone_number left off/);
    expect(outcomes.map((o) => o.message).join(' ')).toMatch(/email left off/);
  });

  it('a second sync makes no Chatwoot write; a rename, a phone change and an email change update just those', async () => {
    stack.sim.resetStats();
    const again = await sync('full');
    expect(chatwootWrites(stack.sim)).toBe(0);
    expect(again).toMatchObject({
      status: 'succeeded',
      unchanged: seeded.liveCustomers.length,
      created: 0,
      updated: 0,
    });

    const { ids } = seeded;
    stack.sim.pipedrive.upsertOrg({ id: ids.plain, name: 'Plain Customer Renamed' });
    stack.sim.pipedrive.upsertOrg({
      id: ids.phoneField,
      custom_fields: { [(await import('../../simulator/src/index.js')).PD_FIELD_KEYS.mainPhone]: '+61 3 9000 1111' },
    });
    const person = stack.sim.pipedrive.personsOfOrg(ids.emoji)[0]!;
    stack.sim.pipedrive.upsertPerson({ id: person.id, emails: ['new.address@rocket.example'] });
    stack.sim.resetStats();
    const incremental = await sync('incremental');
    expect(incremental.mode).toBe('incremental');
    expect(incremental).toMatchObject({ updated: 3, created: 0, failed: 0 });
    expect(chatwootWrites(stack.sim)).toBe(3);
    expect(contactOf(ids.plain)[0]!.name).toBe('Plain Customer Renamed');
    expect(contactOf(ids.phoneField)[0]!.phone_number).toBe('+61390001111');
    expect(contactOf(ids.emoji)[0]!.email).toBe('new.address@rocket.example');
  });

  it('rides out 429 bursts on both APIs with nothing failed', async () => {
    const { ids } = seeded;
    stack.sim.pipedrive.upsertOrg({ id: ids.noPersons, name: 'Nobody Works Here Either' });
    stack.sim.pipedrive.setFaults({ burst429: { count: 2 } });
    stack.sim.chatwoot.setFaults({ burst429: { count: 1 } });
    // Chatwoot's 429 has no Retry-After: its window is the minute, so the wait runs to the next one.
    const run = await sync('full', 100_000);
    stack.sim.pipedrive.clearFaults();
    stack.sim.chatwoot.clearFaults();
    expect(run.status).toBe('succeeded');
    expect(run.failed).toBe(0);
    expect(contactOf(ids.noPersons)[0]!.name).toBe('Nobody Works Here Either');
    expect(stack.sim.stats().byStatus['429']).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('fails fast with the auth type on a 401', async () => {
    stack.sim.pipedrive.setFaults({ badToken: true });
    stack.sim.resetStats();
    const run = await sync('incremental');
    stack.sim.pipedrive.clearFaults();
    expect(run.status).toBe('failed');
    expect(run.errorType).toBe('auth issue');
    const pingsBefore = pings.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(pings.length).toBe(pingsBefore); // no ping after a failed run
    expect(run.errorMessage).toMatch(/401/);
    expect(stack.sim.stats().byApi.pipedrive.requests).toBe(1);
  });

  it('ends a run as failed when Chatwoot rejects the token during the batches (never stuck running)', async () => {
    stack.sim.pipedrive.upsertOrg({ id: seeded.ids.plain, name: 'Plain Customer Renamed Again' });
    stack.sim.chatwoot.setFaults({ badToken: true });
    const run = await sync('incremental');
    stack.sim.chatwoot.clearFaults();
    expect(run.status).toBe('failed');
    expect(run.errorType).toBe('auth issue');
    // the next run starts (nothing blocks it) and writes the change
    const next = await sync('incremental');
    expect(next.status).not.toBe('failed');
    expect(contactOf(seeded.ids.plain)[0]!.name).toBe('Plain Customer Renamed Again');
  });

  it('a webhook upsert does not move the start of the next incremental listing', async () => {
    const ds = await stack.ds();
    const { RunEntity } = await import('@pcs/db');
    // A webhook run recorded as if it had listed an hour from now: an incremental run that took
    // its start from it would see none of the changes below.
    await ds.getRepository(RunEntity).insert({
      id: randomUUID(),
      type: 'sync',
      mode: 'webhook',
      trigger: 'webhook',
      status: 'succeeded',
      startedAt: new Date(),
      finishedAt: new Date(),
      listingStartedAt: new Date(Date.now() + 3_600_000),
      listingComplete: true,
    });
    stack.sim.pipedrive.upsertOrg({ id: seeded.ids.rtl, name: 'شركة الاختبار الجديدة' });
    const run = await sync('incremental');
    expect(run.mode).toBe('incremental');
    expect(contactOf(seeded.ids.rtl)[0]!.name).toBe('شركة الاختبار الجديدة');
  });

  it('never reports success after a listing that broke midway', async () => {
    stack.sim.pipedrive.configure({});
    stack.sim.pipedrive.seed({ orgs: 1200, customerRatio: 1 });
    stack.sim.pipedrive.setFaults({ failAfterPages: 1 });
    const run = await sync('full');
    stack.sim.pipedrive.clearFaults();
    expect(run.status).toBe('failed');
    expect(run.listingComplete).toBe(false);
    expect(run.errorMessage).toMatch(/listing failed/);
  }, 60_000);
});
