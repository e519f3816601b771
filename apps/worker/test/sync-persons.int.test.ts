import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '@pcs/queues';
import { syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';

/** A full run fetches persons whichever way costs fewer Pipedrive requests. */
describe('sync: persons per organization or by listing', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  const personRequests = () =>
    Object.entries(stack.sim.stats().byApi.pipedrive.byRoute)
      .filter(([k]) => k.includes('/persons'))
      .reduce((n, [, v]) => n + v, 0);
  async function fullSync() {
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    return stack.waitForRun(runId);
  }

  beforeAll(async () => {
    stack = await createStack('persons', { SYNC_CRON: '0 0 1 1 *' });
    // 3 customers next to 1,500 leads with 2 persons each: the persons listing is 7 pages.
    stack.sim.pipedrive.seed({ orgs: 1500, personsPerOrg: 2, customerRatio: 0 });
    for (const name of ['One', 'Two', 'Three']) {
      const id = stack.sim.pipedrive.upsertOrg({ name: `Customer ${name}`, label_ids: [17] }).id;
      stack.sim.pipedrive.upsertPerson({
        org_id: id,
        name: `Person ${name}`,
        emails: [`${name.toLowerCase()}@customer.example`],
      });
    }
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('lists all persons on the first full run, then asks per customer once that is cheaper', async () => {
    stack.sim.resetStats();
    const first = await fullSync();
    expect(first.created).toBe(3);
    const listed = personRequests();
    expect(listed).toBeGreaterThanOrEqual(7);
    expect(first.details).toMatchObject({ personsMode: 'listing', personPages: listed, customers: 3 });

    // A new email on a customer's person, seen by the next full run through its per-org fetch.
    const id = stack.sim.pipedrive.listOrgs().find((o) => o.name === 'Customer Two')!.id;
    const person = stack.sim.pipedrive.personsOfOrg(id)[0]!;
    stack.sim.pipedrive.upsertPerson({ id: person.id, emails: ['two.new@customer.example'] });
    stack.sim.resetStats();
    const second = await fullSync();
    expect(second.details).toMatchObject({ personsMode: 'per-org' });
    expect(personRequests()).toBe(3);
    expect(second).toMatchObject({ updated: 1, unchanged: 2, failed: 0 });
    expect(stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${id}`)!.email).toBe(
      'two.new@customer.example',
    );
  });
});
