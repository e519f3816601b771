import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '@pcs/queues';
import { syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';

/**
 * A full run whose mirror knows many persons lists them in two halves at once (split at the
 * mirror's median update time) while the organizations are listed too, then the persons changed
 * since it began: every person once, nothing lost, nothing written for nothing.
 */
describe('sync: the persons listing in two halves', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  async function fullSync() {
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    return stack.waitForRun(runId);
  }
  const mirrorPersons = async () =>
    Number(((await (await stack.ds()).query('SELECT COUNT(*) AS n FROM persons')) as { n: string }[])[0]!.n);

  beforeAll(async () => {
    stack = await createStack('split', { SYNC_CRON: '0 0 1 1 *' });
    // 1,000 organizations with 3 persons each: 6 pages of persons, 2 of organizations.
    stack.sim.pipedrive.seed({ orgs: 1000, personsPerOrg: 3, customerRatio: 0.9, seed: 3 });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('lists every person once in two halves, keeps them all, and writes only what changed', async () => {
    const first = await fullSync();
    expect(first.details).not.toHaveProperty('personsSplit');
    expect(first.failed).toBe(0);
    const live = stack.sim.pipedrive.listPersons().filter((p) => !p.is_deleted).length;
    expect(await mirrorPersons()).toBe(live);

    const customers = stack.sim.pipedrive
      .listOrgs()
      .filter((o) => !o.is_deleted && o.label_ids.includes(17) && stack.sim.pipedrive.personsOfOrg(o.id).length);
    const [a, b] = [customers[0]!, customers[customers.length - 1]!];
    // A new email on the first person of one customer, and the first person of another one gone.
    const first_ = (orgId: number) => [...stack.sim.pipedrive.personsOfOrg(orgId)].sort((x, y) => x.id - y.id)[0]!;
    const pa = first_(a.id);
    stack.sim.pipedrive.upsertPerson({ id: pa.id, emails: ['split.new@customer.example'] });
    stack.sim.pipedrive.deletePerson(first_(b.id).id);

    stack.sim.resetStats();
    const second = await fullSync();
    expect(second.details).toHaveProperty('personsSplit');
    expect(second.status).toMatch(/succeeded|partial/);
    expect(second.failed).toBe(0);
    expect(await mirrorPersons()).toBe(stack.sim.pipedrive.listPersons().filter((p) => !p.is_deleted).length);
    // Only the two organizations whose persons changed (if their contact changed) are written.
    expect(second.created + second.adopted).toBe(0);
    expect(second.updated).toBeGreaterThanOrEqual(1);
    expect(second.updated).toBeLessThanOrEqual(2);
    expect(second.unchanged).toBe(first.created + first.adopted + first.updated + first.unchanged - second.updated);
    expect(stack.sim.stats().byApi.pipedrive.byStatus['429']).toBeUndefined();
    const contact = stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${a.id}`)!;
    expect(contact.email).toBe('split.new@customer.example');
  });
});
