import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, SIM_DEFAULTS } from '../src/index.js';
import type { Simulator } from '../src/index.js';

let sim: Simulator;
let acct: string;
const ADMIN = { api_access_token: SIM_DEFAULTS.chatwootAdminToken };
const AGENT = { api_access_token: SIM_DEFAULTS.chatwootAgentToken };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = ADMIN,
  base = acct,
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Json = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: json, res, text };
}

function seedMany(n: number): void {
  for (let i = 1; i <= n; i++) sim.chatwoot.seedContact({ name: `Contact ${i}`, email: `c${i}@example.com` });
}

beforeAll(async () => {
  sim = createSimulator({ seed: 11 });
  await sim.start();
  acct = `${sim.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`;
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

describe('chatwoot auth table', () => {
  it('distinguishes missing, unknown, non-member, unknown-account and agent-on-admin-action', async () => {
    const none = await call('GET', '/contacts', undefined, {});
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ errors: ['You need to sign in or sign up before continuing.'] });

    const bad = await call('GET', '/contacts', undefined, { api_access_token: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: 'Invalid Access Token' });

    const other = await call(
      'GET',
      '/contacts',
      undefined,
      ADMIN,
      `${sim.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootOtherAccountId}`,
    );
    expect(other.status).toBe(401);
    expect(other.body).toEqual({ error: 'You are not authorized to access this account' });

    const missing = await call('GET', '/contacts', undefined, ADMIN, `${sim.chatwootBaseUrl}/api/v1/accounts/999`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: 'Resource could not be found' });

    const c = sim.chatwoot.seedContact({ name: 'X', email: 'x@example.com' });
    const del = await call('DELETE', `/contacts/${c.id}`, undefined, AGENT);
    expect(del.status).toBe(401);
    expect(del.body).toEqual({ error: 'You are not authorized to do this action' });
    const def = await call(
      'POST',
      '/custom_attribute_definitions',
      {
        custom_attribute_definition: {
          attribute_key: 'k',
          attribute_display_name: 'K',
          attribute_model: 'contact_attribute',
        },
      },
      AGENT,
    );
    expect(def.status).toBe(401);
    expect(def.body).toEqual({ error: 'You are not authorized to do this action' });

    const notFound = await call('GET', '/contacts/12345');
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({ error: 'Resource could not be found' });
  });

  it('badToken fault revokes both tokens', async () => {
    sim.chatwoot.setFaults({ badToken: true });
    for (const h of [ADMIN, AGENT])
      expect((await call('GET', '/contacts', undefined, h)).body).toEqual({ error: 'Invalid Access Token' });
  });
});

describe('chatwoot list, search, filter', () => {
  it('lists 15 per page fixed (ignores per_page), meta.count total, current_page string vs int', async () => {
    seedMany(40);
    const first = await call('GET', '/contacts?per_page=100');
    expect(first.body.payload.length).toBe(15);
    expect(first.body.meta).toEqual({ count: 40, current_page: 1 });
    const p3 = await call('GET', '/contacts?page=3&per_page=100');
    expect(p3.body.payload.length).toBe(10);
    expect(p3.body.meta.current_page).toBe('3');
    const past = await call('GET', '/contacts?page=9');
    expect(past.body.payload).toEqual([]);
  });

  it('sorted listing is stable and covers all rows; sort with - prefix', async () => {
    seedMany(40);
    const seen: number[] = [];
    for (let p = 1; p <= 3; p++)
      seen.push(...(await call('GET', `/contacts?page=${p}&sort=email`)).body.payload.map((c: Json) => c.id));
    expect(new Set(seen).size).toBe(40);
    const desc = await call('GET', '/contacts?sort=-name');
    const names = desc.body.payload.map((c: Json) => c.name);
    expect([...names].sort().reverse()).toEqual(names);
  });

  it('contact JSON shape (created_at unix, last_activity_at omitted when null, contact_inboxes on list)', async () => {
    sim.chatwoot.seedContact({ name: 'A', email: 'a@example.com', created_at: 1737000000 });
    const { body } = await call('GET', '/contacts');
    const c = body.payload[0];
    expect(c).toMatchObject({
      id: 1,
      name: 'A',
      email: 'a@example.com',
      phone_number: null,
      identifier: null,
      blocked: false,
      thumbnail: '',
      created_at: 1737000000,
      availability_status: 'offline',
      contact_inboxes: [],
    });
    expect(c).not.toHaveProperty('last_activity_at');
  });

  it('invisible contact is not in list/search/filter but is in the control listing', async () => {
    sim.chatwoot.seedContact({ name: 'Ghost Ltd', custom_attributes: { pipedrive_org_id: 9 } });
    sim.chatwoot.seedContact({ name: 'Visible Ltd', email: 'v@example.com' });
    const list = await call('GET', '/contacts');
    expect(list.body.payload.map((c: Json) => c.name)).toEqual(['Visible Ltd']);
    const search = await call('GET', '/contacts/search?q=Ghost');
    expect(search.body.payload).toEqual([]);
    const filter = await call('POST', '/contacts/filter', {
      payload: [{ attribute_key: 'name', filter_operator: 'contains', values: ['ltd'], query_operator: null }],
    });
    expect(filter.body.payload.map((c: Json) => c.name)).toEqual(['Visible Ltd']);
    const ctl = (await (await fetch(`${sim.url}/_control/chatwoot/contacts`)).json()) as Json[];
    expect(ctl.map((c: Json) => c.name)).toEqual(['Ghost Ltd', 'Visible Ltd']);
  });

  it('search: blank q → 422; substring match, identifier case-sensitive; meta.count = rows on page, has_more', async () => {
    expect((await call('GET', '/contacts/search?q=')).body).toEqual({
      error: 'Specify search string with parameter q',
    });
    sim.chatwoot.seedContact({ name: 'Acme', identifier: 'pipedrive-org-42', email: 'ops@acme.example' });
    sim.chatwoot.seedContact({ name: 'Other', identifier: 'pipedrive-org-4' });
    const sub = await call('GET', '/contacts/search?q=pipedrive-org-4');
    expect(sub.body.payload.length).toBe(2);
    const upper = await call('GET', '/contacts/search?q=PIPEDRIVE-ORG-4');
    expect(upper.body.payload.length).toBe(0);
    const mail = await call('GET', '/contacts/search?q=OPS@ACME');
    expect(mail.body.payload.map((c: Json) => c.name)).toEqual(['Acme']);
    seedMany(20);
    const many = await call('GET', '/contacts/search?q=example.com');
    expect(many.body.meta).toEqual({ count: 15, current_page: 1, has_more: true });
    const p2 = await call('GET', '/contacts/search?q=example.com&page=2');
    expect(p2.body.meta).toEqual({ count: 5, current_page: '2', has_more: false });
  });

  it('search is rate-limited per account: 101st call in the minute → 429 text/plain, no Retry-After', async () => {
    // stay inside one fixed minute window
    const inMinute = Date.now() % 60_000;
    if (inMinute > 57_000) await new Promise((r) => setTimeout(r, 60_000 - inMinute + 50));
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await call('GET', '/contacts/search?q=x')).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const r = await call('GET', '/contacts/search?q=x');
    expect(r.status).toBe(429);
    expect(r.res.headers.get('content-type')).toBe('text/plain');
    expect(r.text).toBe('Retry later\n');
    expect(r.res.headers.get('retry-after')).toBeNull();
    expect([...r.res.headers.keys()].some((k) => k.startsWith('ratelimit') || k.startsWith('x-ratelimit'))).toBe(false);
    // other endpoints are not affected
    expect((await call('GET', '/contacts')).status).toBe(200);
  });

  it('filter: identifier equal_to is exact (not substring), case-insensitive', async () => {
    sim.chatwoot.seedContact({ name: 'A', identifier: 'pipedrive-org-42' });
    sim.chatwoot.seedContact({ name: 'B', identifier: 'pipedrive-org-4' });
    const r = await call('POST', '/contacts/filter?page=1', {
      payload: [
        { attribute_key: 'identifier', filter_operator: 'equal_to', values: ['pipedrive-org-4'], query_operator: null },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.payload.map((c: Json) => c.name)).toEqual(['B']);
    expect(r.body.meta).toEqual({ count: 1, current_page: '1' });
    const up = await call('POST', '/contacts/filter', {
      payload: [{ attribute_key: 'identifier', filter_operator: 'equal_to', values: ['PIPEDRIVE-ORG-42'] }],
    });
    expect(up.body.payload.map((c: Json) => c.name)).toEqual(['A']);
    const op = await call('POST', '/contacts/filter', {
      payload: [{ attribute_key: 'identifier', filter_operator: 'contains', values: ['x'] }],
    });
    expect(op.status).toBe(422);
    expect(op.body.error).toBe('Invalid operator. The allowed operators for identifier are [equal_to,not_equal_to].');
  });

  it('filter: OR chains, phone + handling, missing payload wrapper', async () => {
    sim.chatwoot.seedContact({ name: 'A', email: 'a@example.com', phone_number: '+4930123456' });
    sim.chatwoot.seedContact({ name: 'B', email: 'b@example.com' });
    sim.chatwoot.seedContact({ name: 'C', email: 'c@example.com' });
    const or = await call('POST', '/contacts/filter', {
      payload: [
        { attribute_key: 'email', filter_operator: 'equal_to', values: ['A@EXAMPLE.COM'], query_operator: 'OR' },
        { attribute_key: 'email', filter_operator: 'equal_to', values: ['c@example.com'], query_operator: null },
      ],
    });
    expect(or.body.payload.map((c: Json) => c.name)).toEqual(['A', 'C']);
    for (const v of ['4930123456', '+4930123456']) {
      const ph = await call('POST', '/contacts/filter', {
        payload: [{ attribute_key: 'phone_number', filter_operator: 'equal_to', values: [v] }],
      });
      expect(ph.body.payload.map((c: Json) => c.name)).toEqual(['A']);
    }
    const bare = await call('POST', '/contacts/filter', [
      { attribute_key: 'email', filter_operator: 'equal_to', values: ['a@example.com'] },
    ]);
    expect(bare.status).toBeGreaterThanOrEqual(422);
  });

  it('filter on an undefined custom attribute → 422; on a defined number attribute works', async () => {
    sim.chatwoot.seedContact({
      name: 'A',
      identifier: 'pipedrive-org-42',
      custom_attributes: { pipedrive_org_id: 42 },
    });
    sim.chatwoot.seedContact({
      name: 'B',
      identifier: 'pipedrive-org-7',
      custom_attributes: { pipedrive_org_id: '7' },
    });
    const cond = (v: unknown, op = 'equal_to') => ({
      payload: [{ attribute_key: 'pipedrive_org_id', filter_operator: op, values: [v], query_operator: null }],
    });
    const undef = await call('POST', '/contacts/filter', cond(42));
    expect(undef.status).toBe(422);
    expect(undef.body.error).toMatch(
      /^Invalid attribute key - \[pipedrive_org_id\]\. The key should be one of \[.*\] or a custom attribute defined in the account\.$/,
    );
    const def = await call('POST', '/custom_attribute_definitions', {
      custom_attribute_definition: {
        attribute_display_name: 'Pipedrive Org ID',
        attribute_key: 'pipedrive_org_id',
        attribute_model: 'contact_attribute',
        attribute_display_type: 'number',
      },
    });
    expect(def.status).toBe(200);
    expect(def.body).toMatchObject({
      attribute_key: 'pipedrive_org_id',
      attribute_display_type: 'number',
      attribute_model: 'contact_attribute',
    });
    expect((await call('POST', '/contacts/filter', cond('42'))).body.payload.map((c: Json) => c.name)).toEqual(['A']);
    expect((await call('POST', '/contacts/filter', cond(7))).body.payload.map((c: Json) => c.name)).toEqual(['B']);
    expect(
      (await call('POST', '/contacts/filter', cond(10, 'is_greater_than'))).body.payload.map((c: Json) => c.name),
    ).toEqual(['A']);
    const list = await call('GET', '/custom_attribute_definitions?attribute_model=contact_attribute');
    expect(Array.isArray(list.body)).toBe(true);
    expect(list.body.length).toBe(1);
    const dup = await call('POST', '/custom_attribute_definitions', {
      custom_attribute_definition: {
        attribute_display_name: 'Again',
        attribute_key: 'pipedrive_org_id',
        attribute_model: 1,
        attribute_display_type: 1,
      },
    });
    expect(dup.status).toBe(422);
    expect(dup.body.message).toBe('Attribute key has already been taken');
    const wrapperless = await call('POST', '/custom_attribute_definitions', { attribute_key: 'x' });
    expect(wrapperless.body).toEqual({ error: 'param is missing or the value is empty: custom_attribute_definition' });
    const std = await call('POST', '/custom_attribute_definitions', {
      custom_attribute_definition: {
        attribute_display_name: 'E',
        attribute_key: 'email',
        attribute_model: 'contact_attribute',
      },
    });
    expect(std.status).toBe(422);
    const del = await call('DELETE', `/custom_attribute_definitions/${def.body.id}`);
    expect(del.status).toBe(204);
  });
});

describe('chatwoot scale and variants', () => {
  it('stays fast with many contacts (indexed uniqueness checks and exact filters)', async () => {
    for (let i = 1; i <= 5000; i++)
      sim.chatwoot.seedContact({ name: `Org ${i}`, identifier: `pipedrive-org-${i}`, email: `Org${i}@Example.com` });
    const t = Date.now();
    for (let i = 1; i <= 150; i++) {
      const r = await call('POST', '/contacts/filter', {
        payload: [
          {
            attribute_key: 'identifier',
            filter_operator: 'equal_to',
            values: [`pipedrive-org-${i}`],
            query_operator: 'OR',
          },
          {
            attribute_key: 'email',
            filter_operator: 'equal_to',
            values: [`org${i + 1}@example.com`],
            query_operator: null,
          },
        ],
      });
      expect(r.body.payload.map((c: Json) => c.id)).toEqual([i, i + 1]);
      expect(
        (await call('POST', '/contacts', { name: `New ${i}`, identifier: `new-${i}`, email: `new${i}@example.com` }))
          .status,
      ).toBe(200);
    }
    expect((await call('POST', '/contacts', { name: 'dup', email: 'ORG7@example.com' })).status).toBe(422);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('searchIncludesUnresolved finds invisible contacts by name (newer Chatwoot)', async () => {
    sim.chatwoot.seedContact({ name: 'Ghost Ltd' });
    sim.chatwoot.configure({ searchIncludesUnresolved: true });
    expect((await call('GET', '/contacts/search?q=ghost')).body.payload.map((c: Json) => c.name)).toEqual([
      'Ghost Ltd',
    ]);
  });
});

describe('chatwoot create/update validations', () => {
  it('creates a contact with the create response shape; email lower-cased', async () => {
    const r = await call('POST', '/contacts', {
      name: 'Acme GmbH',
      email: 'Ops@Acme.Example',
      phone_number: '+4930123456',
      identifier: 'pipedrive-org-42',
      custom_attributes: { pipedrive_org_id: 42 },
      additional_attributes: { city: 'Berlin' },
      unknown_param: 1,
    });
    expect(r.status).toBe(200);
    expect(r.body.payload.contact).toMatchObject({
      id: 1,
      email: 'ops@acme.example',
      identifier: 'pipedrive-org-42',
      custom_attributes: { pipedrive_org_id: 42 },
      contact_inboxes: [],
    });
    expect(r.body.payload.contact_inbox).toEqual({ inbox: null, source_id: null });
    const show = await call('GET', '/contacts/1');
    expect(show.body.payload).toMatchObject({ id: 1, name: 'Acme GmbH' });
  });

  it('422 on duplicate email (case-insensitive), phone and identifier, with attributes', async () => {
    await call('POST', '/contacts', {
      name: 'A',
      email: 'a@example.com',
      phone_number: '+4930123456',
      identifier: 'pd-1',
    });
    const dupEmail = await call('POST', '/contacts', { name: 'B', email: 'A@EXAMPLE.COM' });
    expect(dupEmail.status).toBe(422);
    expect(dupEmail.body).toEqual({ message: 'Email has already been taken', attributes: ['email'] });
    const both = await call('POST', '/contacts', { name: 'B', email: 'a@example.com', phone_number: '+4930123456' });
    expect(both.body).toEqual({
      message: 'Email has already been taken, Phone number has already been taken',
      attributes: ['email', 'phone_number'],
    });
    const ident = await call('POST', '/contacts', { name: 'B', identifier: 'pd-1' });
    expect(ident.body).toEqual({ message: 'Identifier has already been taken', attributes: ['identifier'] });
    // identifier is case-sensitive
    expect((await call('POST', '/contacts', { name: 'B', identifier: 'PD-1' })).status).toBe(200);
    // "" identifier is not nil: the second one clashes; "" email becomes null
    expect((await call('POST', '/contacts', { name: 'E1', identifier: '', email: '' })).status).toBe(200);
    const e2 = await call('POST', '/contacts', { name: 'E2', identifier: '', email: '' });
    expect(e2.body).toEqual({ message: 'Identifier has already been taken', attributes: ['identifier'] });
  });

  it('422 on invalid phone format and invalid email', async () => {
    for (const phone of ['0412 345 678', '+0412345678', '+49 30 123456', '4930123456']) {
      const r = await call('POST', '/contacts', { name: 'P', phone_number: phone });
      expect(r.status).toBe(422);
      expect(r.body).toEqual({ message: 'Phone number should be in e164 format', attributes: ['phone_number'] });
    }
    const e = await call('POST', '/contacts', { name: 'E', email: 'not an email' });
    expect(e.body).toEqual({ message: 'Email Invalid email', attributes: ['email'] });
  });

  it('update shallow-merges custom/additional attributes; {} removes nothing; a string is ignored', async () => {
    await call('POST', '/contacts', {
      name: 'A',
      email: 'a@example.com',
      custom_attributes: { a: 1, b: 2 },
      additional_attributes: { city: 'Oslo' },
    });
    const u = await call('PUT', '/contacts/1', { custom_attributes: { b: 3, c: 4 }, additional_attributes: {} });
    expect(u.status).toBe(200);
    expect(u.body.payload.custom_attributes).toEqual({ a: 1, b: 3, c: 4 });
    expect(u.body.payload.additional_attributes).toEqual({ city: 'Oslo' });
    const s = await call('PATCH', '/contacts/1', { custom_attributes: '{"z":1}' });
    expect(s.body.payload.custom_attributes).toEqual({ a: 1, b: 3, c: 4 });
    const d = await call('POST', '/contacts/1/destroy_custom_attributes', { custom_attributes: ['a', 'c'] });
    expect(d.body.payload.custom_attributes).toEqual({ b: 3 });
  });

  it('update fails on a uniqueness clash of a field that was not sent', async () => {
    sim.chatwoot.seedContact({ name: 'Old', phone_number: '+4930123456' });
    const dup = sim.chatwoot.seedContact({ name: 'Dup', phone_number: '+4930123456', email: 'dup@example.com' });
    const r = await call('PUT', `/contacts/${dup.id}`, { custom_attributes: { x: 1 } });
    expect(r.status).toBe(422);
    expect(r.body).toEqual({ message: 'Phone number has already been taken', attributes: ['phone_number'] });
    expect(sim.chatwoot.getContact(dup.id)?.custom_attributes).toEqual({});
  });
});

describe('chatwoot delete, merge, conversations, faults', () => {
  it('delete by admin → 200 empty and conversations removed; online contact → 422', async () => {
    const a = sim.chatwoot.seedContact({ name: 'Acme', email: 'a@example.com' });
    sim.chatwoot.addConversation(a.id);
    sim.chatwoot.online(a.id);
    const online = await call('DELETE', `/contacts/${a.id}`);
    expect(online.status).toBe(422);
    expect(online.body).toEqual({ message: 'Acme is Online, please try again later' });
    sim.chatwoot.online(a.id, false);
    const ok = await call('DELETE', `/contacts/${a.id}`);
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    expect(sim.chatwoot.conversations(a.id)).toEqual([]);
    expect((await call('GET', `/contacts/${a.id}`)).status).toBe(404);
  });

  it('merge keeps conversations on the base; base attributes win', async () => {
    const base = sim.chatwoot.seedContact({
      name: 'Base',
      identifier: 'pipedrive-org-1',
      custom_attributes: { pipedrive_org_id: 1, shared: 'base' },
    });
    const mergee = sim.chatwoot.seedContact({
      name: 'Old',
      email: 'old@example.com',
      custom_attributes: { shared: 'mergee', legacy: true },
    });
    const c1 = sim.chatwoot.addConversation(mergee.id);
    sim.chatwoot.addConversation(base.id);
    const r = await call('POST', '/actions/contact_merge', { base_contact_id: base.id, mergee_contact_id: mergee.id });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: base.id,
      name: 'Base',
      email: 'old@example.com',
      custom_attributes: { pipedrive_org_id: 1, shared: 'base', legacy: true },
    });
    expect(sim.chatwoot.getContact(mergee.id)).toBeUndefined();
    const convs = await call('GET', `/contacts/${base.id}/conversations`);
    expect(convs.body.payload.map((c: Json) => c.id)).toContain(c1?.id);
    expect(convs.body.payload.length).toBe(2);
    expect(convs.body.payload[0]).toMatchObject({ contact_id: base.id, status: 'open' });
    const byEmail = await call('POST', '/contacts/filter', {
      payload: [{ attribute_key: 'email', filter_operator: 'equal_to', values: ['old@example.com'] }],
    });
    expect(byEmail.body.payload.map((c: Json) => c.id)).toEqual([base.id]);
    // the mergee's values are free again
    expect((await call('POST', '/contacts', { name: 'N', email: 'other@example.com' })).status).toBe(200);
  });

  it('burst429 fault → text/plain Retry later 429s, then normal', async () => {
    sim.chatwoot.setFaults({ burst429: { count: 2 } });
    for (let i = 0; i < 2; i++) {
      const r = await call('GET', '/contacts');
      expect(r.status).toBe(429);
      expect(r.text).toBe('Retry later\n');
      expect(r.res.headers.get('retry-after')).toBeNull();
    }
    expect((await call('GET', '/contacts')).status).toBe(200);
  });

  it('perMinuteLimit and errorRate5xx faults', async () => {
    sim.chatwoot.setFaults({ perMinuteLimit: 3 });
    const inMinute = Date.now() % 60_000;
    if (inMinute > 59_000) await new Promise((r) => setTimeout(r, 60_000 - inMinute + 50));
    const s: number[] = [];
    for (let i = 0; i < 4; i++) s.push((await call('GET', '/contacts')).status);
    expect(s).toEqual([200, 200, 200, 429]);
    sim.chatwoot.clearFaults();
    sim.chatwoot.setFaults({ errorRate5xx: 1 });
    expect([500, 503]).toContain((await call('GET', '/contacts')).status);
  });
});

describe('chatwoot: a client that goes away mid-request', () => {
  it('never creates a contact from a request whose body did not arrive', async () => {
    const { createSimulator } = await import('../src/index.js');
    const net = await import('node:net');
    const s = createSimulator();
    const { port } = await s.start();
    try {
      s.chatwoot.setFaults({ latencyMs: 50 });
      const body = JSON.stringify({ name: 'X', identifier: 'pipedrive:org:1' });
      for (const sent of [body.slice(0, 10), body]) {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(
            `POST /chatwoot/api/v1/accounts/2/contacts HTTP/1.1\r\nHost: x\r\napi_access_token: cw-admin-token\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${sent}`,
          );
          setTimeout(() => sock.destroy(), 5);
        });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(s.chatwoot.listAllContacts().filter((c) => !c.identifier)).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});

describe('chatwoot contacts viewer (GET /chatwoot/)', () => {
  const orgContact = (id: number, name: string, status: string) => ({
    name,
    identifier: `pipedrive:org:${id}`,
    email: `org${id}@example.com`,
    additional_attributes: { company_name: name, city: 'Zürich', country: 'Switzerland' },
    custom_attributes: {
      pipedrive_org_id: id,
      status,
      type: 'organization',
      pipedrive_url: `https://app.pipedrive.com/organization/${id}`,
    },
  });

  it('lists contacts created through the API, escaped, with counts, without a token and outside the stats', async () => {
    expect((await call('POST', '/contacts', orgContact(1, 'Evil <b>&"Co', 'Customer'))).status).toBe(200);
    expect((await call('POST', '/contacts', orgContact(2, 'Plain AG', 'Customer'))).status).toBe(200);
    expect((await call('POST', '/contacts', orgContact(3, 'Gone GmbH', 'Former customer'))).status).toBe(200);
    const before = sim.stats();
    expect(before.byApi.chatwoot.requests).toBe(3);

    for (const path of ['/chatwoot/', '/chatwoot']) {
      const res = await fetch(`${sim.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<meta http-equiv="refresh" content="3">');
      expect(html).toContain('Evil &#60;b&#62;&#38;&#34;Co');
      expect(html).not.toContain('<b>&');
      expect(html).not.toContain('<b>');
      expect(html).toContain('<span data-count="total">3</span>');
      expect(html).toContain('<span data-count="customer">2</span>');
      expect(html).toContain('<span data-count="former">1</span>');
      expect(html).toContain('href="https://app.pipedrive.com/organization/2"');
      expect(html).toContain('pipedrive:org:3');
      // newest updated first
      expect(html.indexOf('Gone GmbH')).toBeLessThan(html.indexOf('Plain AG'));
    }
    // an update moves the contact to the top
    const plain = sim.chatwoot.lookup('identifier', 'pipedrive:org:2')[0];
    expect(
      (await call('PUT', `/contacts/${plain?.id}`, { custom_attributes: { status: 'Former customer' } })).status,
    ).toBe(200);
    const html = await (await fetch(`${sim.url}/chatwoot/`)).text();
    expect(html.indexOf('Plain AG')).toBeLessThan(html.indexOf('Gone GmbH'));
    expect(html).toContain('<span data-count="former">2</span>');

    const after = sim.stats();
    expect(after.byApi.chatwoot.requests).toBe(4);
    expect(after.total).toBe(before.total + 1);
    expect(Object.keys(after.byApi.chatwoot.byRoute).every((k) => k.includes('/api/v1/'))).toBe(true);
  });

  it('is not affected by API faults and does not consume them; the API still requires a token', async () => {
    sim.chatwoot.setFaults({ burst429: { count: 1 }, badToken: true });
    expect((await fetch(`${sim.url}/chatwoot/`)).status).toBe(200);
    expect(sim.chatwoot.faults.burst429).toEqual({ count: 1 });
    sim.chatwoot.clearFaults();
    expect((await call('GET', '/contacts', undefined, {})).status).toBe(401);
    expect(
      (await fetch(`${sim.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}/contacts`)).status,
    ).toBe(401);
    expect(sim.stats().byApi.chatwoot.requests).toBe(2);
  });

  it('caps the table at 500 rows', async () => {
    seedMany(501);
    const html = await (await fetch(`${sim.url}/chatwoot/`)).text();
    expect(html).toContain('showing 500 of 501');
    expect(html.match(/<tr[ >]/g)).toHaveLength(501); // header row + 500
    expect(html).toContain('<span data-count="total">501</span>');
  });

  it('is listed in the JSON index', async () => {
    const idx = (await (await fetch(`${sim.url}/`)).json()) as Record<string, string>;
    expect(idx.chatwootContacts).toBe(`${sim.url}/chatwoot/`);
  });
});
