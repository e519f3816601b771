import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@pcs/http';
import { createSimulator, SIM_DEFAULTS } from '@pcs/simulator';
import { ChatwootClient, isOnlineConflict } from '../src/index.js';
import type { ChatwootClientOptions } from '../src/index.js';

const sim = createSimulator({ port: 0, seed: 7 });

function client(over: Partial<ChatwootClientOptions> = {}): ChatwootClient {
  return new ChatwootClient({
    baseUrl: sim.chatwootBaseUrl,
    accountId: SIM_DEFAULTS.chatwootAccountId,
    apiKey: SIM_DEFAULTS.chatwootAdminToken,
    retry: { minBackoffMs: 5, maxBackoffMs: 20 },
    ...over,
  });
}

async function caught(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const ORG_ID_DEF = { key: 'pipedrive_org_id', displayName: 'Pipedrive Org ID', displayType: 'number' as const };

beforeAll(async () => {
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

describe('contacts CRUD', () => {
  it('creates, reads and updates with a shallow merge of custom attributes', async () => {
    const cw = client();
    const created = await cw.createContact({
      name: 'Acme GmbH',
      email: 'Ops@Acme.example',
      phone_number: '+4930123456',
      identifier: 'pipedrive:org:4',
      additional_attributes: { city: 'Berlin' },
      custom_attributes: { pipedrive_org_id: 4, tier: 'gold' },
    });
    expect(created.id).toBeGreaterThan(0);
    expect(created.email).toBe('ops@acme.example');
    expect(created.phoneNumber).toBe('+4930123456');
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(created.lastActivityAt).toBeNull();

    const got = await cw.getContact(created.id);
    expect(got).toMatchObject({
      id: created.id,
      name: 'Acme GmbH',
      identifier: 'pipedrive:org:4',
      customAttributes: { pipedrive_org_id: 4, tier: 'gold' },
    });

    const updated = await cw.updateContact(created.id, { name: 'Acme AG', custom_attributes: { tier: 'silver' } });
    expect(updated.name).toBe('Acme AG');
    expect(updated.customAttributes).toEqual({ pipedrive_org_id: 4, tier: 'silver' });
    expect(updated.additionalAttributes).toEqual({ city: 'Berlin' });

    // identifier "" is never sent (the identifier stays); null clears email and phone
    const cleared = await cw.updateContact(created.id, { identifier: '', email: null, phone_number: null });
    expect(cleared.identifier).toBe('pipedrive:org:4');
    expect(cleared.email).toBeNull();
    expect(cleared.phoneNumber).toBeNull();

    const trimmed = await cw.removeCustomAttributes(created.id, ['tier']);
    expect(trimmed.customAttributes).toEqual({ pipedrive_org_id: 4 });

    expect(await cw.getContact(99_999)).toBeNull();
    const e = await caught(cw.updateContact(99_999, { name: 'x' }));
    expect(e.type).toBe('not_found');
    expect(e.message).toContain('contact 99999');
  });

  it('findByIdentifier is exact: no prefix matches, case-sensitive', async () => {
    const cw = client();
    const c42 = await cw.createContact({ name: 'Org 42', identifier: 'pipedrive:org:42' });
    expect(await cw.findByIdentifier('pipedrive:org:4')).toBeNull();
    expect((await cw.findByIdentifier('pipedrive:org:42'))?.id).toBe(c42.id);

    const upper = await cw.createContact({ name: 'Org 7', identifier: 'Pipedrive:Org:7' });
    // the simulator (like Chatwoot) lower-cases the identifier filter: the server returns it...
    const raw = await cw.filterContacts([
      { attributeKey: 'identifier', operator: 'equal_to', value: 'pipedrive:org:7' },
    ]);
    expect(raw.contacts.map((c) => c.id)).toEqual([upper.id]);
    // ...but the client keeps only the exact identifier
    expect(await cw.findByIdentifier('pipedrive:org:7')).toBeNull();
    expect((await cw.findByIdentifier('Pipedrive:Org:7'))?.id).toBe(upper.id);

    // identifiers are unique case-sensitively, so both spellings can exist; each finds its own
    const lower = await cw.createContact({ name: 'Org 7 lower', identifier: 'pipedrive:org:7' });
    expect((await cw.findByIdentifier('pipedrive:org:7'))?.id).toBe(lower.id);
    expect((await cw.findByIdentifier('Pipedrive:Org:7'))?.id).toBe(upper.id);

    // never the (substring) search endpoint
    expect(Object.keys(cw.counters.byRoute).some((k) => k.includes('search'))).toBe(false);
    expect(await cw.findByIdentifier('')).toBeNull();
  });

  it('findByCustomAttribute needs the definition; ensureAttributeDefinitions creates it once', async () => {
    const legacy = sim.chatwoot.seedContact({
      name: 'Legacy',
      email: 'old@example.com',
      custom_attributes: { pipedrive_org_id: 42 },
    });
    const asString = sim.chatwoot.seedContact({
      name: 'Legacy string',
      email: 'old2@example.com',
      custom_attributes: { pipedrive_org_id: '42' },
    });
    sim.chatwoot.seedContact({
      name: 'Other',
      email: 'other@example.com',
      custom_attributes: { pipedrive_org_id: 420 },
    });
    sim.chatwoot.seedContact({ name: 'Four', email: 'four@example.com', custom_attributes: { pipedrive_org_id: 4 } });
    const cw = client();

    const e = await caught(cw.findByCustomAttribute('pipedrive_org_id', 42));
    expect(e.type).toBe('bad_data');
    expect(e.status).toBe(422);
    expect(e.message).toContain('Invalid attribute key');

    // an agent may not create definitions
    const agent = client({ apiKey: SIM_DEFAULTS.chatwootAgentToken });
    const denied = await caught(agent.ensureAttributeDefinitions([ORG_ID_DEF]));
    expect(denied.type).toBe('forbidden');
    expect(denied.message).toMatch(/not an administrator/);

    expect(await cw.ensureAttributeDefinitions([ORG_ID_DEF])).toEqual(['pipedrive_org_id']);
    expect(await cw.ensureAttributeDefinitions([ORG_ID_DEF])).toEqual([]);
    expect(sim.chatwoot.definitions('contact_attribute').map((d) => d.attribute_key)).toEqual(['pipedrive_org_id']);
    expect(await cw.listAttributeDefinitions()).toEqual([
      { id: expect.any(Number), key: 'pipedrive_org_id', displayType: 'number', model: 'contact_attribute' },
    ]);

    const found = await cw.findByCustomAttribute('pipedrive_org_id', 42);
    expect(found.map((c) => c.id).sort()).toEqual([legacy.id, asString.id].sort());
    const old = found.find((c) => c.id === legacy.id);
    expect(old).toMatchObject({
      identifier: null,
      email: 'old@example.com',
      customAttributes: { pipedrive_org_id: 42 },
    });
    expect(await cw.findByCustomAttribute('pipedrive_org_id', 4)).toHaveLength(1);
  });

  it('filterAllContacts reads every page and returns each contact once', async () => {
    for (let i = 0; i < 40; i++) sim.chatwoot.seedContact({ name: `Bulk ${i}`, email: `bulk${i}@bulk.example` });
    for (let i = 0; i < 5; i++) sim.chatwoot.seedContact({ name: `Else ${i}`, email: `else${i}@else.example` });
    const cw = client();
    const all = await cw.filterAllContacts([{ attributeKey: 'email', operator: 'contains', value: '@bulk.example' }]);
    expect(all).toHaveLength(40);
    expect(new Set(all.map((c) => c.id)).size).toBe(40);
    expect(cw.counters.byRoute['POST contacts/filter']).toBe(3);
    expect(cw.counters.writes).toBe(0);

    const page3 = await cw.filterContacts([{ attributeKey: 'email', operator: 'contains', value: '@bulk.example' }], 3);
    expect(page3).toMatchObject({ count: 40 });
    expect(page3.contacts).toHaveLength(10);

    // chained conditions, the phone value is sent without its +
    const p = await cw.createContact({ name: 'Phone', phone_number: '+4915112345678' });
    const byPhoneOrEmail = await cw.filterAllContacts([
      { attributeKey: 'phone_number', operator: 'equal_to', value: '+49 151 12345678', queryOperator: 'OR' },
      { attributeKey: 'email', operator: 'equal_to', value: 'bulk3@bulk.example' },
    ]);
    expect(byPhoneOrEmail.map((c) => c.name).sort()).toEqual(['Bulk 3', 'Phone']);
    expect(byPhoneOrEmail.some((c) => c.id === p.id)).toBe(true);
  });

  it('lists contacts with a stable sort; contactCount leaves out invisible contacts', async () => {
    const cw = client();
    for (let i = 0; i < 20; i++) await cw.createContact({ name: `C${i}`, email: `c${i}@list.example` });
    sim.chatwoot.seedContact({ name: 'Invisible, no email, phone or identifier' });
    expect(sim.chatwoot.listAllContacts()).toHaveLength(21);
    expect(await cw.contactCount()).toBe(20);
    const p1 = await cw.listContacts(1);
    const p2 = await cw.listContacts(2);
    expect(p1.count).toBe(20);
    expect(p1.contacts).toHaveLength(15);
    expect(p2.contacts).toHaveLength(5);
    expect(new Set([...p1.contacts, ...p2.contacts].map((c) => c.id)).size).toBe(20);
    expect((await cw.listContacts(3)).contacts).toEqual([]);
  });
});

describe('validation errors (422)', () => {
  it('maps uniqueness to conflict and format problems to bad_data, with the attributes', async () => {
    const cw = client();
    await cw.createContact({
      name: 'A',
      email: 'Dup@Example.com',
      phone_number: '+4930111111',
      identifier: 'pipedrive:org:1',
    });

    const email = await caught(cw.createContact({ name: 'B', email: 'dup@EXAMPLE.com' }));
    expect(email).toMatchObject({ type: 'conflict', status: 422, attributes: ['email'] });

    const phone = await caught(cw.createContact({ name: 'C', phone_number: '+4930111111' }));
    expect(phone).toMatchObject({ type: 'conflict', attributes: ['phone_number'] });

    const badPhone = await caught(cw.createContact({ name: 'D', phone_number: '030 111111' }));
    expect(badPhone).toMatchObject({ type: 'bad_data', attributes: ['phone_number'] });
    expect(badPhone.message).toContain('e164');

    const ident = await caught(cw.createContact({ name: 'E', identifier: 'pipedrive:org:1' }));
    expect(ident).toMatchObject({ type: 'conflict', attributes: ['identifier'] });

    const badEmail = await caught(cw.createContact({ name: 'F', email: 'not-an-email' }));
    expect(badEmail).toMatchObject({ type: 'bad_data', attributes: ['email'] });

    const both = await caught(cw.createContact({ name: 'G', email: 'dup@example.com', phone_number: '+4930111111' }));
    expect(both).toMatchObject({ type: 'conflict', attributes: ['email', 'phone_number'] });

    const op = await caught(cw.filterContacts([{ attributeKey: 'identifier', operator: 'contains', value: 'x' }]));
    expect(op).toMatchObject({ type: 'bad_data', status: 422 });
    expect(op.message).toContain('Invalid operator');

    // none of these are retried
    expect(cw.counters.byRoute['POST contacts']).toBe(7);
  });
});

describe('delete and merge', () => {
  it('needs an admin token, refuses online contacts, then deletes', async () => {
    const admin = client();
    const c = await admin.createContact({ name: 'Online Olga', email: 'olga@example.com' });

    const agent = client({ apiKey: SIM_DEFAULTS.chatwootAgentToken });
    const forbidden = await caught(agent.deleteContact(c.id));
    expect(forbidden.type).toBe('forbidden');
    expect(forbidden.status).toBe(401);
    expect(forbidden.message).toMatch(/not an administrator's/);
    expect(forbidden.message).toMatch(/delete contacts/);
    expect(agent.counters.total).toBe(1);
    expect(agent.counters.writes).toBe(1);
    expect(isOnlineConflict(forbidden)).toBe(false);

    sim.chatwoot.online(c.id, true);
    const online = await caught(admin.deleteContact(c.id));
    expect(online).toMatchObject({ type: 'conflict', status: 422, attributes: [] });
    expect(online.message).toMatch(/online/i);
    expect(online.message).toMatch(/later/);
    expect(isOnlineConflict(online)).toBe(true);
    expect(await admin.getContact(c.id)).not.toBeNull();

    sim.chatwoot.online(c.id, false);
    await admin.deleteContact(c.id);
    expect(await admin.getContact(c.id)).toBeNull();
    const gone = await caught(admin.deleteContact(c.id));
    expect(gone.type).toBe('not_found');
  });

  it('merge keeps the mergee conversations on the base', async () => {
    const cw = client();
    const base = await cw.createContact({ name: 'Base', identifier: 'pipedrive:org:9' });
    const mergee = await cw.createContact({
      name: 'Dup',
      email: 'dup@merge.example',
      custom_attributes: { note: 'x' },
    });
    const conv = sim.chatwoot.addConversation(mergee.id);
    expect(conv).toBeDefined();

    const merged = await cw.mergeContacts(base.id, mergee.id);
    expect(merged).toMatchObject({
      id: base.id,
      identifier: 'pipedrive:org:9',
      email: 'dup@merge.example',
      customAttributes: { note: 'x' },
    });
    const convs = await cw.conversations(base.id);
    expect(convs).toContainEqual({ id: conv?.id, status: 'open' });
    expect(await cw.getContact(mergee.id)).toBeNull();
    expect(cw.counters.byRoute['POST actions/contact_merge']).toBe(1);
  });
});
