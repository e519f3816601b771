import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '@pcs/queues';
import { syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../../worker/src/worker.js';
import { parsePipedriveEvent } from '../src/webhook.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { waitFor } from '../../../test/support/index.js';

const HOOK = { user: 'pipedrive', password: 'hook secret 42' };

describe('Pipedrive webhook intake', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let dashboard: AppProcess;
  let url = '';
  let orgId = 0;
  let personOrgId = 0;

  beforeAll(async () => {
    stack = await createStack('hook', {
      SYNC_CRON: '0 0 1 1 *',
      DASHBOARD_AUTH: 'off',
      PIPEDRIVE_WEBHOOK_USER: HOOK.user,
      PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
    });
    orgId = stack.sim.pipedrive.upsertOrg({ name: 'Webhook Customer', label_ids: [17] }).id;
    personOrgId = stack.sim.pipedrive.upsertOrg({ name: 'Person Org', label_ids: [17] }).id;
    stack.sim.pipedrive.upsertPerson({ org_id: personOrgId, name: 'Pat', emails: ['pat@before.example'] });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    await stack.waitForRun(runId);
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    await dashboard.waitFor(/"port":(\d+),"board"/);
    url = `http://127.0.0.1:${/"port":(\d+),"board"/.exec(dashboard.output())![1]}/webhooks/pipedrive`;
  });
  afterAll(async () => {
    await dashboard?.stop();
    await worker?.stop('test');
    await stack?.close();
  });

  const contact = (id: number) =>
    stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${id}`);

  it('renames the contact within seconds of a v2 organization change event', async () => {
    expect(contact(orgId)!.name).toBe('Webhook Customer');
    stack.sim.pipedrive.upsertOrg({ id: orgId, name: 'Webhook Customer Renamed' });
    const started = Date.now();
    expect(
      await stack.sim.pipedrive.sendWebhook(
        url,
        { version: '2.0', action: 'change', entity: 'organization', id: orgId, previous: { name: 'Webhook Customer' } },
        HOOK,
      ),
    ).toBe(202);
    await waitFor(() => contact(orgId)!.name === 'Webhook Customer Renamed', {
      timeoutMs: 15_000,
      what: 'the rename to reach Chatwoot',
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('updates the email after a v1 person event, debouncing a burst into one upsert', async () => {
    const person = stack.sim.pipedrive.personsOfOrg(personOrgId)[0]!;
    stack.sim.pipedrive.upsertPerson({ id: person.id, emails: ['pat@after.example'] });
    stack.sim.resetStats();
    for (let i = 0; i < 5; i++)
      expect(
        await stack.sim.pipedrive.sendWebhook(
          url,
          { version: '1.0', action: 'updated', entity: 'person', id: person.id },
          HOOK,
        ),
      ).toBe(202);
    await waitFor(() => contact(personOrgId)!.email === 'pat@after.example', {
      timeoutMs: 15_000,
      what: 'the email to reach Chatwoot',
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const byRoute = stack.sim.stats().byApi.pipedrive.byRoute;
    expect(byRoute['GET /pipedrive/api/v2/organizations/:id']).toBe(1);
  });

  it('answers 401 without the webhook credentials and 400 on a malformed body', async () => {
    const noAuth = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noAuth.status).toBe(401);
    const auth = `Basic ${Buffer.from(`${HOOK.user}:${HOOK.password}`).toString('base64')}`;
    const wrong = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('pipedrive:nope').toString('base64')}` },
      body: '{}',
    });
    expect(wrong.status).toBe(401);
    const broken = await fetch(url, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: '{"meta": ',
    });
    expect(broken.status).toBe(400);
    const shapeless = await fetch(url, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    });
    expect(shapeless.status).toBe(400);
    expect(((await shapeless.json()) as { error: string }).error).toMatch(/not a Pipedrive webhook payload/);
    const deal = await fetch(url, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ meta: { action: 'change', entity: 'deal', entity_id: '5' }, data: {} }),
    });
    expect(deal.status).toBe(202);
    expect(await deal.json()).toMatchObject({ accepted: false });
  });
});

describe('parsePipedriveEvent', () => {
  it('reads v1 and v2 organization and person events, merges included', () => {
    expect(
      parsePipedriveEvent({
        meta: { action: 'change', entity: 'organization', entity_id: '42' },
        data: {},
        previous: {},
      }),
    ).toMatchObject({ version: '2', orgIds: [42] });
    expect(
      parsePipedriveEvent({
        meta: { action: 'delete', entity: 'organization', entity_id: '7', merged_to_id: '9' },
        data: null,
        previous: {},
      }),
    ).toMatchObject({ orgIds: [7, 9] });
    expect(
      parsePipedriveEvent({
        meta: { action: 'change', entity: 'person', entity_id: '3' },
        data: { org_id: 11 },
        previous: { org_id: 12 },
      }),
    ).toMatchObject({ orgIds: [11, 12] });
    expect(
      parsePipedriveEvent({
        event: 'updated.organization',
        meta: { action: 'updated', object: 'organization', id: 5 },
        current: { id: 5 },
        previous: {},
      }),
    ).toMatchObject({ version: '1', orgIds: [5] });
    expect(
      parsePipedriveEvent({
        event: 'updated.person',
        meta: { action: 'updated', object: 'person', id: 8 },
        current: { org_id: { value: 6, name: 'X' } },
        previous: { org_id: 6 },
      }),
    ).toMatchObject({ orgIds: [6] });
    expect(typeof parsePipedriveEvent([])).toBe('string');
    expect(typeof parsePipedriveEvent({ meta: {} })).toBe('string');
  });
});
