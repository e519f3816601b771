import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, SIM_DEFAULTS } from '../src/index.js';
import type { Simulator } from '../src/index.js';

let sim: Simulator;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function ctl(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${sim.url}/_control${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

const PD = { 'x-api-token': SIM_DEFAULTS.pipedriveToken };

beforeAll(async () => {
  sim = createSimulator({ seed: 3 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(async () => {
  expect((await ctl('POST', '/reset')).status).toBe(200);
});

describe('control API', () => {
  it('exposes base URLs', () => {
    expect(sim.pipedriveBaseUrl).toBe(`${sim.url}/pipedrive`);
    expect(sim.chatwootBaseUrl).toBe(`${sim.url}/chatwoot`);
    expect(sim.gchatWebhookUrl()).toBe(`${sim.url}/gchat/v1/spaces/AAAA-sim/messages?key=sim-key&token=sim-token`);
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('seeds, upserts, deletes, merges and lists Pipedrive orgs', async () => {
    const seeded = await ctl('POST', '/pipedrive/seed', { orgs: 5, personsPerOrg: 2, customerRatio: 1 });
    expect(seeded.body).toMatchObject({ orgs: 5, firstOrgId: 1, lastOrgId: 5 });
    const up = await ctl('POST', '/pipedrive/orgs', {
      name: 'Ny Kunde AS',
      customer: true,
      address: 'Storgata 1, Oslo',
    });
    expect(up.body).toMatchObject({ id: 6, name: 'Ny Kunde AS', label_ids: [SIM_DEFAULTS.pipedriveCustomerLabelId] });
    const patched = await ctl('POST', '/pipedrive/orgs', { id: 6, name: 'Ny Kunde ASA' });
    expect(patched.body.name).toBe('Ny Kunde ASA');
    expect(Date.parse(patched.body.update_time)).toBeGreaterThanOrEqual(Date.parse(up.body.update_time));
    expect((await ctl('DELETE', '/pipedrive/orgs/2')).body.is_deleted).toBe(true);
    expect((await ctl('DELETE', '/pipedrive/orgs/3?purge=1')).body).toMatchObject({ purged: true });
    const merged = await ctl('POST', '/pipedrive/orgs/4/merge/5');
    expect(merged.body.id).toBe(5);
    const person = await ctl('POST', '/pipedrive/persons', {
      org_id: 6,
      first_name: 'Kari',
      last_name: 'Nordmann',
      emails: ['kari@kunde.no'],
    });
    expect(person.body).toMatchObject({ org_id: 6, name: 'Kari Nordmann' });
    expect((await ctl('DELETE', `/pipedrive/persons/${person.body.id}`)).body.is_deleted).toBe(true);
    const orgs = await ctl('GET', '/pipedrive/orgs');
    expect(orgs.body.map((o: Json) => [o.id, o.is_deleted])).toEqual([
      [1, false],
      [2, true],
      [4, true],
      [5, false],
      [6, false],
    ]);
    const list = (await (await fetch(`${sim.pipedriveBaseUrl}/api/v2/organizations`, { headers: PD })).json()) as Json;
    expect(list.data.map((o: Json) => o.id)).toEqual([1, 5, 6]);
    const persons5 = (await (
      await fetch(`${sim.pipedriveBaseUrl}/api/v2/persons?org_id=5`, { headers: PD })
    ).json()) as Json;
    expect(persons5.data.length).toBe(sim.pipedrive.personsOfOrg(5).length);
    const f = await ctl('POST', '/pipedrive/filters', {
      name: 'Customers',
      labelId: SIM_DEFAULTS.pipedriveCustomerLabelId,
    });
    expect(f.body).toMatchObject({ id: 1, name: 'Customers' });
  });

  it('rejects bad control input with 400 and a message', async () => {
    const a = await ctl('POST', '/pipedrive/seed', { orgs: -1 });
    expect(a.status).toBe(400);
    expect(a.body.error).toContain('orgs');
    expect((await ctl('POST', '/pipedrive/faults', { burst429: 3 })).status).toBe(400);
    expect((await ctl('POST', '/pipedrive/faults', { nope: true })).status).toBe(400);
    expect((await ctl('POST', '/gchat/faults', { fail: [{ status: 418, count: 1 }] })).status).toBe(400);
    expect((await ctl('DELETE', '/pipedrive/orgs/abc')).status).toBe(400);
    expect((await ctl('POST', '/nope/faults', {})).status).toBe(404);
    const bad = await fetch(`${sim.url}/_control/pipedrive/orgs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
  });

  it('sets and clears faults over HTTP', async () => {
    const set = await ctl('POST', '/pipedrive/faults', { badToken: true, latencyMs: 5 });
    expect(set.body).toMatchObject({ badToken: true, latencyMs: 5 });
    expect((await fetch(`${sim.pipedriveBaseUrl}/v1/users/me`, { headers: PD })).status).toBe(401);
    const cleared = await ctl('POST', '/pipedrive/faults?clear=1', {});
    expect(cleared.body).toMatchObject({ badToken: false, latencyMs: 0 });
    expect((await fetch(`${sim.pipedriveBaseUrl}/v1/users/me`, { headers: PD })).status).toBe(200);
    await ctl('POST', '/chatwoot/faults', { burst429: { count: 1 } });
    const cw = await fetch(`${sim.chatwootBaseUrl}/api/v1/accounts/2/contacts`, {
      headers: { api_access_token: SIM_DEFAULTS.chatwootAdminToken },
    });
    expect(cw.status).toBe(429);
    await ctl('POST', '/gchat/faults', { fail: [{ status: 500, count: 1 }] });
    expect((await fetch(sim.gchatWebhookUrl(), { method: 'POST', body: '{"text":"x"}' })).status).toBe(500);
    expect((await ctl('GET', '/gchat/faults')).body.fail).toEqual([]);
  });

  it('Chatwoot contacts, conversations and online flag through control', async () => {
    const legacy = await ctl('POST', '/chatwoot/contacts', {
      name: 'Legacy Org',
      email: 'legacy@example.com',
      custom_attributes: { pipedrive_org_id: 12 },
    });
    expect(legacy.body).toMatchObject({ id: 1, identifier: null, custom_attributes: { pipedrive_org_id: 12 } });
    await ctl('POST', '/chatwoot/contacts', { name: 'Invisible' });
    const conv = await ctl('POST', '/chatwoot/contacts/1/conversations', {});
    expect(conv.body).toMatchObject({ id: 1, contact_id: 1, status: 'open' });
    expect((await ctl('POST', '/chatwoot/contacts/99/conversations', {})).status).toBe(404);
    expect((await ctl('POST', '/chatwoot/contacts/1/online', {})).body).toEqual({ ok: true, online: true });
    const all = await ctl('GET', '/chatwoot/contacts');
    expect(all.body.map((c: Json) => [c.name, c.conversations, c.availability_status])).toEqual([
      ['Legacy Org', 1, 'online'],
      ['Invisible', 0, 'offline'],
    ]);
    const del = await fetch(`${sim.chatwootBaseUrl}/api/v1/accounts/2/contacts/1`, {
      method: 'DELETE',
      headers: { api_access_token: SIM_DEFAULTS.chatwootAdminToken },
    });
    expect(del.status).toBe(422);
  });

  it('Google Chat spaces and messages through control', async () => {
    expect((await ctl('POST', '/gchat/spaces', { name: 'CCCC-ops', displayName: 'Ops' })).body.spaces).toContain(
      'CCCC-ops',
    );
    expect((await fetch(sim.gchatWebhookUrl('CCCC-ops'), { method: 'POST', body: '{"text":"hello"}' })).status).toBe(
      200,
    );
    const msgs = await ctl('GET', '/gchat/messages?space=CCCC-ops');
    expect(msgs.body).toHaveLength(1);
    expect(msgs.body[0]).toMatchObject({
      space: 'CCCC-ops',
      text: 'hello',
      thread: expect.stringMatching(/^spaces\/CCCC-ops\/threads\//),
    });
    await ctl('DELETE', '/gchat/messages');
    expect((await ctl('GET', '/gchat/messages')).body).toEqual([]);
    await ctl('DELETE', '/gchat/spaces/CCCC-ops');
    expect((await fetch(sim.gchatWebhookUrl('CCCC-ops'), { method: 'POST', body: '{"text":"hello"}' })).status).toBe(
      404,
    );
  });

  it('sends a Pipedrive webhook through control', async () => {
    sim.pipedrive.seed({ orgs: 1 });
    let received: Json = null;
    const srv = http.createServer((req, res) => {
      let d = '';
      req.on('data', (c) => (d += c));
      req.on('end', () => {
        received = { auth: req.headers.authorization, body: JSON.parse(d) };
        res.end('ok');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/pd`;
      const r = await ctl('POST', '/pipedrive/webhook', {
        url,
        version: '2.0',
        action: 'create',
        entity: 'organization',
        id: 1,
        user: 'u',
        password: 'p',
      });
      expect(r.body).toEqual({ status: 200 });
    } finally {
      srv.close();
    }
    expect(received.body.meta).toMatchObject({ action: 'create', entity: 'organization', entity_id: '1' });
    expect(received.body.previous).toBeNull();
    expect(received.auth).toMatch(/^Basic /);
  });

  it('counts requests per api, per route pattern and per status; resets', async () => {
    sim.pipedrive.seed({ orgs: 3 });
    await fetch(`${sim.pipedriveBaseUrl}/api/v2/organizations`, { headers: PD });
    await fetch(`${sim.pipedriveBaseUrl}/api/v2/organizations/1`, { headers: PD });
    await fetch(`${sim.pipedriveBaseUrl}/api/v2/organizations/2`, { headers: PD });
    await fetch(`${sim.pipedriveBaseUrl}/api/v2/organizations`);
    await fetch(`${sim.chatwootBaseUrl}/api/v1/accounts/2/contacts/5`, {
      headers: { api_access_token: SIM_DEFAULTS.chatwootAdminToken },
    });
    await fetch(sim.gchatWebhookUrl(), { method: 'POST', body: '{"text":"x"}' });
    const s = (await ctl('GET', '/stats')).body;
    expect(s.byApi.pipedrive.requests).toBe(4);
    expect(s.byRoute['GET /pipedrive/api/v2/organizations/:id']).toBe(2);
    expect(s.byRoute['GET /chatwoot/api/v1/accounts/:accountId/contacts/:id']).toBe(1);
    expect(s.byRoute['POST /gchat/v1/spaces/:space/messages']).toBe(1);
    expect(s.byStatus).toMatchObject({ '200': 4, '401': 1, '404': 1 });
    expect(s.pipedriveTokens).toBe(12);
    expect(sim.stats().total).toBe(6);
    await ctl('POST', '/stats/reset');
    expect((await ctl('GET', '/stats')).body.total).toBe(0);
  });

  it('reset brings all state back to defaults', async () => {
    sim.pipedrive.seed({ orgs: 2 });
    sim.chatwoot.seedContact({ name: 'x', email: 'x@example.com' });
    sim.pipedrive.setFaults({ badToken: true });
    sim.reset();
    expect(sim.pipedrive.listOrgs()).toEqual([]);
    expect(sim.chatwoot.listAllContacts()).toEqual([]);
    expect(sim.pipedrive.faults.badToken).toBe(false);
  });
});
