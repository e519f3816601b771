import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, PD_FIELD_KEYS, SIM_DEFAULTS } from '../src/index.js';
import type { Simulator } from '../src/index.js';

let sim: Simulator;
let base: string;
const H = { 'x-api-token': SIM_DEFAULTS.pipedriveToken };
const UNAUTHORIZED = {
  success: false,
  error: 'unauthorized access',
  errorCode: 401,
  error_info: 'Please check developers.pipedrive.com',
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function get(
  path: string,
  headers: Record<string, string> = H,
): Promise<{ status: number; body: Json; res: Response }> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, res };
}

async function listAll(query = ''): Promise<Json[]> {
  const out: Json[] = [];
  let cursor: string | null = null;
  do {
    const { status, body } = await get(
      `/api/v2/organizations?limit=500${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(status).toBe(200);
    out.push(...body.data);
    cursor = body.additional_data.next_cursor;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  sim = createSimulator({ seed: 7 });
  await sim.start();
  base = sim.pipedriveBaseUrl;
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

describe('pipedrive auth', () => {
  it('answers 401 before routing: missing/wrong token, unknown paths and methods', async () => {
    for (const [path, init] of [
      ['/api/v2/organizations', {}],
      ['/api/v2/organizations', { headers: { 'x-api-token': 'wrong' } }],
      ['/api/v2/no-such-thing', { method: 'PUT' }],
      ['/totally/unknown', { method: 'DELETE', headers: { authorization: 'Bearer nope' } }],
    ] as const) {
      const res = await fetch(`${base}${path}`, init);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(UNAUTHORIZED);
    }
    // authenticated unknown path → 404, not 401
    expect((await get('/api/v2/no-such-thing')).status).toBe(404);
  });

  it('accepts the header, ?api_token= and a bearer token', async () => {
    expect((await get('/v1/users/me')).status).toBe(200);
    expect((await get(`/v1/users/me?api_token=${SIM_DEFAULTS.pipedriveToken}`, {})).status).toBe(200);
    const me = await get('/api/v1/users/me', { authorization: `Bearer ${SIM_DEFAULTS.pipedriveToken}` });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ id: 1, company_id: SIM_DEFAULTS.pipedriveCompanyId, company_domain: 'sim' });
    expect(sim.stats().pipedriveTokensByRoute['GET /pipedrive/api/v1/users/me']).toBe(2);
  });

  it('badToken fault makes the valid token fail', async () => {
    sim.pipedrive.setFaults({ badToken: true });
    const r = await get('/v1/users/me');
    expect(r.status).toBe(401);
    expect(r.body).toEqual(UNAUTHORIZED);
  });
});

describe('pipedrive rate limits and faults', () => {
  it('sends x-ratelimit-* headers on every response, 401 included', async () => {
    for (const headers of [H, {}]) {
      const { res } = await get('/api/v2/organizations', headers);
      expect(res.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
      expect(res.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
      expect(res.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
    }
  });

  it('burst limiter answers 429 with Retry-After once over the limit', async () => {
    sim.pipedrive.configure({ rateLimit: { enabled: true, burstLimit: 5, windowMs: 2000 } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      const r = await get('/api/v2/organizations');
      statuses.push(r.status);
      last = r.res;
      if (i === 0) expect(r.res.headers.get('x-ratelimit-remaining')).toBe('4');
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(last?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(last?.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    const body = await get('/api/v2/organizations');
    expect(body.body).toEqual({
      success: false,
      error: 'Request over limit',
      errorCode: 429,
      error_info: 'Please check developers.pipedrive.com',
    });
  });

  it('burst429 fault answers the next N requests with 429 and Retry-After 1..2', async () => {
    sim.pipedrive.setFaults({ burst429: { count: 2 } });
    for (let i = 0; i < 2; i++) {
      const r = await get('/api/v2/organizations');
      expect(r.status).toBe(429);
      expect(['1', '2']).toContain(r.res.headers.get('retry-after'));
      expect(r.res.headers.get('x-ratelimit-remaining')).toBe('0');
    }
    expect((await get('/api/v2/organizations')).status).toBe(200);
  });

  it('daily token budget: exhausted → 429 daily request budget exceeded', async () => {
    sim.pipedrive.configure({ dailyBudget: 25 });
    const a = await get('/api/v2/organizations');
    expect(a.res.headers.get('x-daily-ratelimit-token-remaining')).toBe('15');
    await get('/api/v2/organizations');
    await get('/api/v2/organizations'); // 30 used > 25
    const d = await get('/api/v2/organizations');
    expect(d.status).toBe(429);
    expect(d.body.error).toBe('daily request budget exceeded');
    expect(d.res.headers.get('x-daily-ratelimit-token-remaining')).toBe('0');
    expect(Number(d.res.headers.get('retry-after'))).toBeGreaterThan(0);
    sim.pipedrive.configure({ dailyBudget: null });
    sim.pipedrive.setFaults({ daily429: true });
    expect((await get('/api/v2/organizations')).body.error).toBe('daily request budget exceeded');
  });

  it('html403 fault answers a Cloudflare HTML page', async () => {
    sim.pipedrive.setFaults({ html403: { count: 1 } });
    const r = await get('/api/v2/organizations');
    expect(r.status).toBe(403);
    expect(r.res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.body).toContain('Cloudflare');
    expect((await get('/api/v2/organizations')).status).toBe(200);
  });

  it('errorRate5xx answers 500/503 generic envelopes', async () => {
    sim.pipedrive.setFaults({ errorRate5xx: 1 });
    const r = await get('/api/v2/organizations');
    expect([500, 503]).toContain(r.status);
    expect(r.body).toMatchObject({ success: false, error_info: 'Please check developers.pipedrive.com' });
    sim.pipedrive.setFaults({ errorRate5xx: 0.5 });
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) statuses.add((await get('/v1/users/me')).status);
    expect(statuses.has(200)).toBe(true);
    expect(statuses.has(500) || statuses.has(503)).toBe(true);
  });

  it('failAfterPages breaks the org listing midway', async () => {
    sim.pipedrive.seed({ orgs: 30 });
    sim.pipedrive.setFaults({ failAfterPages: 2 });
    const p1 = await get('/api/v2/organizations?limit=10');
    expect(p1.status).toBe(200);
    const p2 = await get(`/api/v2/organizations?limit=10&cursor=${p1.body.additional_data.next_cursor}`);
    expect(p2.status).toBe(200);
    const p3 = await get(`/api/v2/organizations?limit=10&cursor=${p2.body.additional_data.next_cursor}`);
    expect(p3.status).toBe(500);
    expect(p3.body.success).toBe(false);
  });
});

describe('pipedrive organizations', () => {
  it('cursor paging with limit 500 covers every live org exactly once; limit 501 → 400', async () => {
    sim.pipedrive.seed({ orgs: 1234 });
    for (const id of [3, 500, 501, 1000]) sim.pipedrive.deleteOrg(id);
    sim.pipedrive.purgeOrg(7);
    const all = await listAll();
    const ids = all.map((o) => o.id);
    expect(new Set(ids).size).toBe(ids.length);
    const live = sim.pipedrive
      .listOrgs()
      .filter((o) => !o.is_deleted)
      .map((o) => o.id);
    expect(ids).toEqual(live);
    expect(ids.length).toBe(1234 - 5);
    const bad = await get('/api/v2/organizations?limit=501');
    expect(bad.status).toBe(400);
    expect(bad.body.success).toBe(false);
    // the final page has next_cursor null
    const last = await get('/api/v2/organizations?limit=500&sort_direction=desc');
    expect(last.body.data[0].id).toBe(1234);
  });

  it('returns the v2 OrganizationItem shape', async () => {
    sim.pipedrive.seed({ orgs: 3 });
    const { body } = await get('/api/v2/organizations?limit=1');
    const o = body.data[0];
    expect(Object.keys(o).sort()).toEqual(
      [
        'add_time',
        'address',
        'custom_fields',
        'id',
        'is_deleted',
        'label_ids',
        'name',
        'owner_id',
        'update_time',
        'visible_to',
      ].sort(),
    );
    expect(o.add_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(typeof o.visible_to).toBe('number');
    expect(body.additional_data.next_cursor).toEqual(expect.any(String));
  });

  it('sort_by=update_time desc pages cover everything once', async () => {
    sim.pipedrive.seed({ orgs: 250 });
    const all = await listAll('&sort_by=update_time&sort_direction=desc').then((x) => x);
    expect(all.length).toBe(250);
    const times = all.map((o) => Date.parse(o.update_time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const small: Json[] = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/api/v2/organizations?limit=37&sort_by=update_time${cursor ? `&cursor=${cursor}` : ''}`);
      small.push(...r.body.data);
      cursor = r.body.additional_data.next_cursor;
    } while (cursor);
    expect(new Set(small.map((o) => o.id)).size).toBe(250);
  });

  it('updated_since (>=) and updated_until (<) at second resolution', async () => {
    sim.pipedrive.seed({ orgs: 50 });
    const before = new Date(Date.now() - 2000).toISOString().replace(/\.\d+Z$/, 'Z');
    const touched = sim.pipedrive.upsertOrg({ id: 10, name: 'Touched GmbH' });
    const created = sim.pipedrive.upsertOrg({ name: 'Brand new AS' });
    const since = await listAll(`&updated_since=${before}`);
    expect(since.map((o) => o.id).sort((a, b) => a - b)).toEqual([touched.id, created.id]);
    const until = await listAll(`&updated_until=${before}`);
    expect(until.length).toBe(49);
    expect((await get('/api/v2/organizations?updated_since=yesterday')).status).toBe(400);
  });

  it('update_time strictly increases even within the same millisecond', () => {
    const a = sim.pipedrive.upsertOrg({ name: 'A' });
    const t1 = a.update_time;
    const t2 = sim.pipedrive.upsertOrg({ id: a.id, name: 'A2' }).update_time;
    const t3 = sim.pipedrive.upsertOrg({ id: a.id, name: 'A3' }).update_time;
    expect(t2).toBeGreaterThan(t1);
    expect(t3).toBeGreaterThan(t2);
  });

  it('soft-deleted org is left out of the list but visible by id; purged → 404', async () => {
    sim.pipedrive.seed({ orgs: 5 });
    sim.pipedrive.deleteOrg(2);
    const all = await listAll();
    expect(all.map((o) => o.id)).toEqual([1, 3, 4, 5]);
    const one = await get('/api/v2/organizations/2');
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({ id: 2, is_deleted: true });
    sim.pipedrive.configure({ deletedOrgById: '404' });
    expect((await get('/api/v2/organizations/2')).status).toBe(404);
    sim.pipedrive.purgeOrg(3);
    const gone = await get('/api/v2/organizations/3');
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({
      success: false,
      error: 'Entity was not found',
      error_info: 'Object was not found.',
      data: null,
      additional_data: null,
    });
    expect(sim.stats().pipedriveTokensByRoute['GET /pipedrive/api/v2/organizations/:id']).toBe(3);
  });

  it('ids, owner_id and custom_fields parameters', async () => {
    sim.pipedrive.seed({ orgs: 20 });
    sim.pipedrive.upsertOrg({
      id: 4,
      owner_id: 99,
      custom_fields: { [PD_FIELD_KEYS.supportPortal]: 'https://x', [PD_FIELD_KEYS.mainPhone]: '+4930123' },
    });
    const byIds = await get('/api/v2/organizations?ids=5,4,999');
    expect(byIds.body.data.map((o: Json) => o.id)).toEqual([4, 5]);
    const byOwner = await get('/api/v2/organizations?owner_id=99');
    expect(byOwner.body.data.map((o: Json) => o.id)).toEqual([4]);
    const cf = await get(`/api/v2/organizations?ids=4&custom_fields=${PD_FIELD_KEYS.supportPortal}`);
    expect(cf.body.data[0].custom_fields).toEqual({ [PD_FIELD_KEYS.supportPortal]: 'https://x' });
    const many = Array.from({ length: 16 }, (_, i) => `k${i}`).join(',');
    expect((await get(`/api/v2/organizations?custom_fields=${many}`)).status).toBe(400);
    const tooMany = Array.from({ length: 101 }, (_, i) => i + 1).join(',');
    expect((await get(`/api/v2/organizations?ids=${tooMany}`)).status).toBe(400);
  });

  it('filter_id selects orgs by saved filter (label) and overrides ids/owner_id', async () => {
    sim.pipedrive.seed({ orgs: 200, customerRatio: 0.5 });
    const f = sim.pipedrive.createFilter('Customers', { labelId: SIM_DEFAULTS.pipedriveCustomerLabelId });
    const filters = await get('/v1/filters?type=org');
    expect(filters.body.data).toEqual([expect.objectContaining({ id: f.id, name: 'Customers', type: 'org' })]);
    const got = await listAll(`&filter_id=${f.id}&ids=1,2&owner_id=12345`);
    const expected = sim.pipedrive
      .listOrgs()
      .filter((o) => !o.is_deleted && o.label_ids.includes(SIM_DEFAULTS.pipedriveCustomerLabelId))
      .map((o) => o.id);
    expect(got.map((o) => o.id)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(50);
    expect(expected.length).toBeLessThan(150);
  });
});

describe('pipedrive persons and fields', () => {
  it('lists persons by org_id with emails/phones arrays; deleted persons left out', async () => {
    sim.pipedrive.seed({ orgs: 10, personsPerOrg: 3 });
    const p = sim.pipedrive.upsertPerson({
      org_id: 4,
      first_name: 'Zoë',
      last_name: 'Weiß',
      emails: ['zoe@x.example'],
      phones: ['0412 345 678'],
    });
    const r = await get('/api/v2/persons?org_id=4');
    expect(r.status).toBe(200);
    const persons = r.body.data;
    expect(persons.every((x: Json) => x.org_id === 4)).toBe(true);
    const mine = persons.find((x: Json) => x.id === p.id);
    expect(mine).toMatchObject({
      name: 'Zoë Weiß',
      emails: [{ value: 'zoe@x.example', primary: true, label: 'work' }],
      phones: [{ value: '0412 345 678', primary: true, label: 'work' }],
      is_deleted: false,
    });
    sim.pipedrive.deletePerson(p.id);
    const after = await get('/api/v2/persons?org_id=4');
    expect(after.body.data.map((x: Json) => x.id)).not.toContain(p.id);
    expect(after.body.additional_data).toHaveProperty('next_cursor');
  });

  it('merging orgs soft-deletes the source and moves its persons', () => {
    sim.pipedrive.seed({ orgs: 3, personsPerOrg: 3 });
    const moving = sim.pipedrive.personsOfOrg(1).map((p) => p.id);
    sim.pipedrive.mergeOrgs(1, 2);
    expect(sim.pipedrive.getOrg(1)?.is_deleted).toBe(true);
    expect(sim.pipedrive.personsOfOrg(1)).toEqual([]);
    expect(sim.pipedrive.personsOfOrg(2).map((p) => p.id)).toEqual(expect.arrayContaining(moving));
  });

  it('organizationFields: Customer option id is not 5; custom field keys present; offset paging', async () => {
    const r = await get('/v1/organizationFields');
    expect(r.status).toBe(200);
    const fields = r.body.data as Json[];
    const label = fields.find((f) => f.key === 'label');
    const labels = fields.find((f) => f.key === 'label_ids');
    expect(label.field_type).toBe('enum');
    expect(labels.field_type).toBe('set');
    const customer = label.options.find((o: Json) => o.label === 'Customer');
    expect(customer.id).not.toBe(5);
    expect(customer.id).toBe(SIM_DEFAULTS.pipedriveCustomerLabelId);
    expect(label.options.map((o: Json) => o.label)).toEqual(['Customer', 'Hot lead', 'Warm lead', 'Cold lead']);
    const byKey = (k: string): Json => fields.find((f) => f.key === k);
    expect(byKey(PD_FIELD_KEYS.customerType)).toMatchObject({
      name: 'Customer Type',
      field_type: 'enum',
      edit_flag: true,
    });
    expect(byKey(PD_FIELD_KEYS.mainPhone)).toMatchObject({ name: 'Main phone', field_type: 'phone' });
    expect(byKey(PD_FIELD_KEYS.supportPortal)).toMatchObject({ name: 'Support portal', field_type: 'varchar' });
    for (const k of Object.values(PD_FIELD_KEYS)) expect(k).toMatch(/^[0-9a-f]{40}$/);
    expect(r.body.additional_data.pagination).toMatchObject({ start: 0, more_items_in_collection: false });
    const page = await get('/api/v1/organizationFields?start=0&limit=2');
    expect(page.body.data.length).toBe(2);
    expect(page.body.additional_data.pagination).toEqual({
      start: 0,
      limit: 2,
      more_items_in_collection: true,
      next_start: 2,
    });
    sim.pipedrive.configure({ customerLabelId: 23 });
    const again = await get('/v1/organizationFields');
    expect(again.body.data.find((f: Json) => f.key === 'label').options[0].id).toBe(23);
  });

  it('seeded data is varied: non-ASCII names, localities, persons without email, local phones', () => {
    sim.pipedrive.seed({ orgs: 300, seed: 3 });
    const orgs = sim.pipedrive.listOrgs();
    expect(orgs.some((o) => [...o.name].some((ch) => ch.charCodeAt(0) > 127))).toBe(true);
    expect(orgs.filter((o) => o.address?.locality && o.address.country).length).toBeGreaterThan(200);
    const persons = sim.pipedrive.listPersons();
    expect(persons.some((p) => !p.emails.some((e) => e.value))).toBe(true);
    expect(persons.some((p) => p.phones.some((x) => /^0\d{3} \d{3} \d{3}$/.test(x.value)))).toBe(true);
  });
});

describe('pipedrive configuration', () => {
  it('createSimulator({ pipedrive }) sets the config that reset() returns to', async () => {
    const other = createSimulator({
      pipedrive: { customerLabelId: 31, rateLimit: { enabled: true, burstLimit: 2, windowMs: 2000 } },
    });
    await other.start();
    try {
      other.reset();
      const r = await fetch(`${other.pipedriveBaseUrl}/v1/organizationFields`, { headers: H });
      expect(r.headers.get('x-ratelimit-limit')).toBe('2');
      const body = (await r.json()) as Json;
      expect(body.data.find((f: Json) => f.key === 'label').options[0]).toEqual({
        id: 31,
        label: 'Customer',
        color: 'green',
      });
      other.pipedrive.seed({ orgs: 10, customerRatio: 1 });
      expect(other.pipedrive.listOrgs().every((o) => o.label_ids.includes(31))).toBe(true);
    } finally {
      await other.stop();
    }
  });
});

describe('pipedrive webhooks', () => {
  it('sends v2 and v1 payloads with Basic auth', async () => {
    sim.pipedrive.seed({ orgs: 2 });
    const got: Array<{ auth: string | undefined; body: Json }> = [];
    const srv = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        got.push({ auth: req.headers.authorization, body: JSON.parse(data) });
        res.statusCode = 202;
        res.end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`;
    try {
      const s1 = await sim.pipedrive.sendWebhook(
        url,
        { version: '2.0', action: 'change', entity: 'organization', id: 1 },
        { user: 'pd', password: 's3cret' },
      );
      expect(s1).toBe(202);
      const s2 = await sim.pipedrive.sendWebhook(url, {
        version: '1.0',
        action: 'deleted',
        entity: 'organization',
        id: 2,
      });
      expect(s2).toBe(202);
    } finally {
      srv.close();
    }
    expect(got[0]?.auth).toBe(`Basic ${Buffer.from('pd:s3cret').toString('base64')}`);
    expect(got[0]?.body.meta).toMatchObject({
      action: 'change',
      entity: 'organization',
      entity_id: '1',
      version: '2.0',
    });
    expect(got[0]?.body.data).toMatchObject({ id: 1, is_deleted: false });
    expect(got[1]?.body).toMatchObject({
      event: 'deleted.organization',
      current: null,
      meta: { action: 'deleted', object: 'organization', id: 2 },
    });
  });
});

describe('pipedrive scale', () => {
  it('pages quickly through 100k orgs', async () => {
    sim.pipedrive.seed({ orgs: 100_000, personsPerOrg: 0 });
    const t = Date.now();
    const first = await get('/api/v2/organizations?limit=500');
    let cursor = first.body.additional_data.next_cursor;
    for (let i = 0; i < 20; i++) {
      const r = await get(`/api/v2/organizations?limit=500&cursor=${cursor}`);
      cursor = r.body.additional_data.next_cursor;
    }
    const deep = await get(
      `/api/v2/organizations?limit=500&cursor=${Buffer.from(JSON.stringify({ field: 'id', fieldValue: 99_000, sortDirection: 'asc', id: 99_000 })).toString('base64url')}`,
    );
    expect(deep.body.data[0].id).toBe(99_001);
    expect(deep.body.data.length).toBe(500);
    expect(Date.now() - t).toBeLessThan(3000);
  });
});
