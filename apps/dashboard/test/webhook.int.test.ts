import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { parsePipedriveEvent } from '../src/webhook.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { spawnApp, spawnTestWorker, type AppProcess } from '../../../test/support/processes.js';
import { REDIS_URL, waitFor } from '../../../test/support/index.js';

const HOOK = { user: 'pipedrive', password: 'hook secret 42' };
const AUTH = `Basic ${Buffer.from(`${HOOK.user}:${HOOK.password}`).toString('base64')}`;
const QUIET = { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', MONITOR_CRON: '0 0 1 1 *' };
const ORG_GET = 'GET /pipedrive/api/v2/organizations/:id';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startDashboard(env: Record<string, string>): Promise<{ app: AppProcess; url: string }> {
  const app = spawnApp('dashboard', { ...env, DASHBOARD_PORT: '0' });
  await app.waitFor(/"port":(\d+),"board"/);
  return { app, url: `http://127.0.0.1:${/"port":(\d+),"board"/.exec(app.output())![1]}/webhooks/pipedrive` };
}

/** The JSON lines a process wrote on stdout. */
function logLines(app: AppProcess): { level: string; msg: string; raw: string }[] {
  return app
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((raw) => ({ ...(JSON.parse(raw) as { level: string; msg: string }), raw }));
}

const post = (url: string, body: string) =>
  fetch(url, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body });

describe('Pipedrive webhook intake, with a worker and the dashboard as processes', () => {
  let stack: TestStack;
  let worker: AppProcess;
  let dashboard: AppProcess;
  let url = '';
  const orgs = { renamed: 0, person: 0, running: 0, busy: 0 };

  beforeAll(async () => {
    stack = await createStack('hook', {
      ...QUIET,
      DASHBOARD_AUTH: 'off',
      PIPEDRIVE_WEBHOOK_USER: HOOK.user,
      PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
    });
    const pd = stack.sim.pipedrive;
    orgs.renamed = pd.upsertOrg({ name: 'Webhook Customer', label_ids: [17] }).id;
    orgs.person = pd.upsertOrg({ name: 'Person Org', label_ids: [17] }).id;
    orgs.running = pd.upsertOrg({ name: 'Running Org', label_ids: [17] }).id;
    orgs.busy = pd.upsertOrg({ name: 'Busy Org', label_ids: [17] }).id;
    pd.upsertPerson({ org_id: orgs.person, name: 'Pat', emails: ['pat@before.example'] });
    worker = spawnTestWorker({ ...stack.env, WORKER_QUEUES: 'sync' }, {});
    await worker.waitFor('"worker ready"', 30_000);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    const sync = new Queue('sync', { connection: redis, prefix: stack.prefix });
    const runId = randomUUID();
    await enqueue({ sync }, syncRunJob, { mode: 'full', trigger: 'test', runId });
    await sync.close();
    redis.disconnect();
    await stack.waitForRun(runId);
    ({ app: dashboard, url } = await startDashboard(stack.env));
  });
  afterAll(async () => {
    await dashboard?.stop();
    await worker?.stop();
    await stack?.close();
  });

  const contact = (id: number) =>
    stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${id}`);
  const send = (id: number) =>
    stack.sim.pipedrive.sendWebhook(url, { version: '2.0', action: 'change', entity: 'organization', id }, HOOK);

  it('renames the contact within seconds of a v2 organization change event', async () => {
    expect(contact(orgs.renamed)!.name).toBe('Webhook Customer');
    stack.sim.pipedrive.upsertOrg({ id: orgs.renamed, name: 'Webhook Customer Renamed' });
    const started = Date.now();
    expect(await send(orgs.renamed)).toBe(202);
    await waitFor(() => contact(orgs.renamed)!.name === 'Webhook Customer Renamed', {
      timeoutMs: 15_000,
      what: 'the rename to reach Chatwoot',
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('updates the email after a v1 person event, coalescing a burst into one upsert', async () => {
    const person = stack.sim.pipedrive.personsOfOrg(orgs.person)[0]!;
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
    await waitFor(() => contact(orgs.person)!.email === 'pat@after.example', {
      timeoutMs: 15_000,
      what: 'the email to reach Chatwoot',
    });
    await sleep(3_000);
    expect(stack.sim.stats().byApi.pipedrive.byRoute[ORG_GET]).toBe(1);
  });

  it('an edit that comes while the sync of that organization runs (after its fetch) leads to one more sync', async () => {
    // Slow Chatwoot writes keep the first sync running after it has read the organization.
    stack.sim.chatwoot.setFaults({ latencyMs: 2_000 });
    stack.sim.resetStats();
    try {
      stack.sim.pipedrive.upsertOrg({ id: orgs.running, name: 'Running A' });
      expect(await send(orgs.running)).toBe(202);
      await waitFor(() => (stack.sim.stats().byApi.pipedrive.byRoute[ORG_GET] ?? 0) >= 1, {
        timeoutMs: 10_000,
        what: 'the first sync to fetch the organization',
      });
      stack.sim.pipedrive.upsertOrg({ id: orgs.running, name: 'Running B' });
      expect(await send(orgs.running)).toBe(202);
    } finally {
      stack.sim.chatwoot.setFaults({ latencyMs: 0 });
    }
    await waitFor(() => contact(orgs.running)!.name === 'Running B', {
      timeoutMs: 20_000,
      what: 'the edit made during the running sync to reach Chatwoot',
    });
    expect(stack.sim.stats().byApi.pipedrive.byRoute[ORG_GET]).toBe(2);
  });

  it('an organization edited every 500 ms for 30 s: every edit reaches Chatwoot within 15 s, the last one too', async () => {
    const EDITS = 60;
    const edits: number[] = [];
    const seen: { at: number; edit: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const m = /^Busy (\d+)$/.exec(contact(orgs.busy)?.name ?? '');
        const edit = m ? Number(m[1]) : -1;
        if (edit !== (seen.at(-1)?.edit ?? -1)) seen.push({ at: Date.now(), edit });
        await sleep(100);
      }
    })();
    try {
      for (let i = 0; i < EDITS; i++) {
        const at = Date.now();
        stack.sim.pipedrive.upsertOrg({ id: orgs.busy, name: `Busy ${i}` });
        edits.push(at);
        expect(await send(orgs.busy)).toBe(202);
        await sleep(Math.max(0, at + 500 - Date.now()));
      }
      await waitFor(() => seen.at(-1)?.edit === EDITS - 1, {
        timeoutMs: 16_000,
        what: 'the last edit to reach Chatwoot',
      });
    } finally {
      polling = false;
      await poller;
    }
    // docs/contract.md §6a: each event is reflected within 15 s (a debounce that extends with
    // every event would have shown nothing until the edits stopped).
    const late = edits
      .map((at, i) => ({ i, after: (seen.find((s) => s.edit >= i)?.at ?? Infinity) - at }))
      .filter((e) => e.after > 15_000);
    expect(late).toEqual([]);
    expect(seen.filter((s) => s.at < edits.at(-1)!).length).toBeGreaterThan(3);
  }, 70_000);

  it("answers 401 without the webhook credentials, 400 on a malformed, over-long or out-of-range body, with a warning and no error; 202 with a warning for a person's bad org_id", async () => {
    const noAuth = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noAuth.status).toBe(401);
    const wrong = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('pipedrive:nope').toString('base64')}` },
      body: '{}',
    });
    expect(wrong.status).toBe(401);

    const org = (meta: Record<string, unknown>, data: unknown = {}) =>
      JSON.stringify({ meta: { action: 'change', entity: 'organization', entity_id: '5', ...meta }, data });
    const bad: [string, string, RegExp][] = [
      ['broken JSON', '{"meta": ', /not valid JSON/],
      ['not an event', JSON.stringify({ hello: 'world' }), /not a Pipedrive webhook payload/],
      ['over-long action', org({ action: 'x'.repeat(5_000) }), /meta\.action/],
      ['over-long entity', org({ entity: 'organization'.repeat(100) }), /not a Pipedrive webhook/],
      ['23-digit id', org({ entity_id: '12345678901234567890123' }), /meta\.entity_id/],
      ['23-digit id as a number', org({ entity_id: 1.2345678901234568e22 }), /meta\.entity_id/],
      [
        'over-long v1 event',
        JSON.stringify({ event: 'u'.repeat(500), meta: { action: 'updated', object: 'person', id: 3 } }),
        /event/,
      ],
    ];
    for (const [what, body, message] of bad) {
      const r = await post(url, body);
      expect(r.status, what).toBe(400);
      expect(((await r.json()) as { error: string }).error, what).toMatch(message);
    }

    // The longest accepted action still makes a job (its `entity.action` label fits the job's schema).
    const longest = await post(url, org({ action: 'a'.repeat(64) }));
    expect(longest.status).toBe(202);

    // A person's bad org_id is an optional reference: ignored with a warning, the event accepted
    // (Pipedrive disables a webhook that keeps failing), and a valid org it names still synced.
    const person = (data: unknown, previous: unknown = null) =>
      JSON.stringify({ meta: { action: 'change', entity: 'person', entity_id: '3' }, data, previous });
    for (const [what, body, orgIds] of [
      ['org 0', person({ org_id: 0 }), []],
      ['23-digit org', person({ org_id: 1e22 }), []],
      [
        '23-digit org as a string, valid previous org',
        person({ org_id: '12345678901234567890123' }, { org_id: orgs.person }),
        [orgs.person],
      ],
      [
        'v1 org object with a bad value',
        JSON.stringify({ meta: { action: 'updated', object: 'person', id: 3 }, current: { org_id: { value: -2 } } }),
        [],
      ],
    ] as const) {
      const r = await post(url, body);
      expect(r.status, what).toBe(202);
      expect(await r.json(), what).toMatchObject(orgIds.length ? { accepted: true, orgIds } : { accepted: false });
    }
    await waitFor(() => logLines(dashboard).some((l) => /names an organization that is not a valid id/.test(l.msg)), {
      timeoutMs: 5_000,
      what: "a warning for a person's bad org_id",
    });
    const ignored = logLines(dashboard).filter((l) => /not a valid id/.test(l.msg));
    expect(new Set(ignored.map((l) => l.level))).toEqual(new Set(['warn']));
    expect(ignored.some((l) => l.raw.includes('12345678901234567890123'))).toBe(false);

    const deal = await post(
      url,
      JSON.stringify({ meta: { action: 'change', entity: 'deal', entity_id: '5' }, data: {} }),
    );
    expect(deal.status).toBe(202);
    expect(await deal.json()).toMatchObject({ accepted: false });

    await waitFor(() => logLines(dashboard).filter((l) => /refused \(400\)/.test(l.msg)).length >= bad.length, {
      timeoutMs: 5_000,
      what: 'a warning for each refused body',
    });
    const refusals = logLines(dashboard).filter((l) => /refused \(400\)/.test(l.msg));
    expect(new Set(refusals.map((l) => l.level))).toEqual(new Set(['warn']));
    expect(refusals.some((l) => l.raw.includes('"stack"'))).toBe(false);
    expect(logLines(dashboard).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });
});

describe('Pipedrive webhook intake above WEBHOOK_MAX_PENDING', () => {
  const CAP = 50;
  let stack: TestStack;
  let dashboard: AppProcess;
  let url = '';
  let redis: Redis;
  let sync: Queue;

  beforeAll(async () => {
    stack = await createStack('hookcap', {
      ...QUIET,
      DASHBOARD_AUTH: 'off',
      PIPEDRIVE_WEBHOOK_USER: HOOK.user,
      PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
      WEBHOOK_MAX_PENDING: String(CAP),
    });
    // No worker: what is accepted stays pending.
    ({ app: dashboard, url } = await startDashboard(stack.env));
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    sync = new Queue('sync', { connection: redis, prefix: stack.prefix });
  });
  afterAll(async () => {
    await dashboard?.stop();
    await sync?.close();
    redis?.disconnect();
    await stack?.close();
  });

  const pendingTargeted = async () =>
    (await sync.getJobs(['delayed', 'prioritized', 'waiting', 'active'])).filter((j) => j.name === 'sync-org');
  const event = (id: number) =>
    JSON.stringify({ meta: { action: 'change', entity: 'organization', entity_id: String(id) }, data: {} });

  it('a flood of distinct organizations gets 429 with Retry-After past the cap, and the queue stays bounded', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => 100_001 + i);
    const statuses: { id: number; status: number; retryAfter: string | null }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const r = await post(url, event(id));
          await r.arrayBuffer();
          statuses.push({ id, status: r.status, retryAfter: r.headers.get('retry-after') });
        }
      }),
    );
    const accepted = statuses.filter((s) => s.status === 202);
    const refused = statuses.filter((s) => s.status === 429);
    expect(accepted.length).toBe(CAP);
    expect(refused.length).toBe(ids.length - CAP);
    expect(refused.every((s) => /^\d+$/.test(s.retryAfter ?? ''))).toBe(true);

    const pending = await pendingTargeted();
    expect(pending.length).toBeLessThanOrEqual(CAP);
    expect(new Set(pending.map((j) => (j.data as { orgId: number }).orgId))).toEqual(
      new Set(accepted.map((s) => s.id)),
    );

    // Full: an organization whose sync is pending still gets 202 (its pending sync will read the
    // edit), a new one gets 429, and nothing is added either way.
    expect((await post(url, event(accepted[0]!.id))).status).toBe(202);
    expect((await post(url, event(refused[0]!.id))).status).toBe(429);
    expect((await pendingTargeted()).length).toBe(pending.length);

    const lines = logLines(dashboard);
    expect(lines.some((l) => l.level === 'warn' && /refused \(429\)/.test(l.msg))).toBe(true);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
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
    expect(
      parsePipedriveEvent({
        meta: { action: 'change', entity: 'person', entity_id: '3' },
        data: { org_id: null },
        previous: null,
      }),
    ).toMatchObject({ orgIds: [], ignored: [] });
    expect(typeof parsePipedriveEvent([])).toBe('string');
    expect(typeof parsePipedriveEvent({ meta: {} })).toBe('string');
  });

  it('refuses ids that are not safe positive integers and over-long strings', () => {
    const v2 = (meta: Record<string, unknown>) =>
      parsePipedriveEvent({ meta: { action: 'change', entity: 'organization', entity_id: '1', ...meta } });
    expect(v2({})).toMatchObject({ orgIds: [1] });
    expect(v2({ entity_id: String(Number.MAX_SAFE_INTEGER) })).toMatchObject({ orgIds: [Number.MAX_SAFE_INTEGER] });
    for (const bad of ['9007199254740993', '12345678901234567890123', '0', '-4', '1.5', 'x', 2 ** 53, 0, -1, 2.5])
      expect(typeof v2({ entity_id: bad }), String(bad)).toBe('string');
    expect(typeof v2({ action: 'a'.repeat(65) })).toBe('string');
    expect(typeof v2({ merged_to_id: '99999999999999999999' })).toBe('string');
  });

  it("ignores a person's org_id that is not a valid id, naming where, and keeps the valid one", () => {
    const person = (data: unknown, previous: unknown) =>
      parsePipedriveEvent({ meta: { action: 'change', entity: 'person', entity_id: '3' }, data, previous });
    for (const bad of [0, -1, 2.5, 1e22, '12345678901234567890123', 'x', { value: 0 }, { name: 'no value' }, true])
      expect(person({ org_id: bad }, null), JSON.stringify(bad)).toMatchObject({
        orgIds: [],
        ignored: [expect.stringMatching(/^data\.org_id: /)],
      });
    expect(person({ org_id: 0 }, { org_id: 12 })).toMatchObject({
      orgIds: [12],
      ignored: [expect.stringMatching(/^data\./)],
    });
    expect(person({ org_id: 11 }, { org_id: '99999999999999999999' })).toMatchObject({
      orgIds: [11],
      ignored: [expect.stringMatching(/^previous\.org_id/)],
    });
    // An over-long string elsewhere in the event, or a bad id of an organization event, is still refused.
    expect(
      typeof parsePipedriveEvent({
        meta: { action: 'x'.repeat(65), entity: 'person', entity_id: '3' },
        data: { org_id: 0 },
      }),
    ).toBe('string');
    expect(
      typeof parsePipedriveEvent({ meta: { action: 'updated', object: 'organization', id: 0 }, current: {} }),
    ).toBe('string');
  });
});
