import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@pcs/http';
import { createSimulator, PD_FIELD_KEYS, SIM_DEFAULTS } from '@pcs/simulator';
import type { Simulator } from '@pcs/simulator';
import {
  customFieldText,
  PipedriveClient,
  primaryEmail,
  primaryPhone,
  resolveCustomerLabel,
  resolveFieldKey,
} from '../src/index.js';
import type { PdOrganization, PdPerson } from '../src/index.js';

let sim: Simulator;

beforeAll(async () => {
  sim = createSimulator({ port: 0, seed: 7 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

const client = (): PipedriveClient =>
  new PipedriveClient({ baseUrl: sim.pipedriveBaseUrl, apiKey: SIM_DEFAULTS.pipedriveToken });

async function collect<T>(gen: AsyncGenerator<T[]>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  for await (const page of gen) {
    pages++;
    items.push(...page);
  }
  return { items, pages };
}

describe('organizations', () => {
  it('streams every live org exactly once in ceil(n/500) requests; deleted ones only by id', async () => {
    sim.pipedrive.seed({ orgs: 1234, personsPerOrg: 0 });
    sim.pipedrive.deleteOrg(10);
    sim.resetStats();
    const pd = client();
    const { items, pages } = await collect(pd.organizationPages());
    const live = sim.pipedrive.listOrgs().filter((o) => !o.is_deleted);
    expect(live).toHaveLength(1233);
    expect(items).toHaveLength(live.length);
    expect(new Set(items.map((o) => o.id)).size).toBe(items.length);
    expect(items.map((o) => o.id).sort((a, b) => a - b)).toEqual(live.map((o) => o.id));
    expect(items.some((o) => o.id === 10)).toBe(false);
    expect(pages).toBe(3);
    expect(pd.counters.total).toBe(3);
    expect(pd.counters.byRoute['GET /api/v2/organizations']).toBe(3);
    expect(sim.stats().byRoute['GET /pipedrive/api/v2/organizations']).toBe(3);

    const o = items[0] as PdOrganization;
    expect(o.updateTime).toBeInstanceOf(Date);
    expect(typeof o.id).toBe('number');
    expect(o.isDeleted).toBe(false);

    const deleted = await pd.getOrganization(10);
    expect(deleted?.isDeleted).toBe(true);
    expect(deleted?.id).toBe(10);
    expect(await pd.getOrganization(99_999)).toBeNull();
    expect(pd.counters.byRoute['GET /api/v2/organizations/:id']).toBe(2);
  });

  it('maps fields, address and custom fields of one org', async () => {
    sim.pipedrive.upsertOrg({
      id: 5,
      name: 'Acme AS',
      label_ids: [SIM_DEFAULTS.pipedriveCustomerLabelId],
      address: { value: 'Storgata 1, Oslo', locality: 'Oslo', country: 'Norway', postal_code: '0155' },
      custom_fields: { [PD_FIELD_KEYS.mainPhone]: ' +47 22 00 00 00 ', [PD_FIELD_KEYS.customerType]: 191 },
    });
    const org = await client().getOrganization(5);
    expect(org).not.toBeNull();
    expect(org?.name).toBe('Acme AS');
    expect(org?.labelIds).toEqual([17]);
    expect(org?.ownerId).toBe(1);
    expect(org?.addTime).toBeInstanceOf(Date);
    expect(org?.address).toMatchObject({
      value: 'Storgata 1, Oslo',
      locality: 'Oslo',
      country: 'Norway',
      postalCode: '0155',
      route: null,
    });
    expect(customFieldText(org as PdOrganization, PD_FIELD_KEYS.mainPhone)).toBe('+47 22 00 00 00');
    expect(customFieldText(org as PdOrganization, PD_FIELD_KEYS.customerType)).toBe('191');
  });

  it('updatedSince returns the orgs changed since (with a 1 s overlap)', async () => {
    sim.pipedrive.seed({ orgs: 50, personsPerOrg: 0 });
    const before = new Date(Date.now() - 1000);
    for (const id of [3, 17, 42]) sim.pipedrive.upsertOrg({ id, name: `Changed ${id}` });
    const pd = client();
    const { items } = await collect(pd.organizationPages({ updatedSince: before, sortBy: 'update_time' }));
    expect(items.map((o) => o.id).sort((a, b) => a - b)).toEqual([3, 17, 42]);
    expect(items.every((o) => o.name.startsWith('Changed'))).toBe(true);
  });

  it('pages by limit and ids, rejects more than 100 ids before sending', async () => {
    sim.pipedrive.seed({ orgs: 30, personsPerOrg: 0 });
    const pd = client();
    const first = await pd.listOrganizations({ limit: 10 });
    expect(first.items).toHaveLength(10);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await pd.listOrganizations({ limit: 10, cursor: first.nextCursor as string });
    expect(second.items[0]?.id).toBe(11);
    const byIds = await pd.listOrganizations({ ids: [2, 4, 6] });
    expect(byIds.items.map((o) => o.id)).toEqual([2, 4, 6]);
    expect(byIds.nextCursor).toBeNull();
    const before = pd.counters.total;
    await expect(pd.listOrganizations({ ids: Array.from({ length: 101 }, (_, i) => i + 1) })).rejects.toMatchObject({
      type: 'bad_data',
    });
    expect(pd.counters.total).toBe(before);
    expect(await pd.listOrganizations({ ids: [] })).toEqual({ items: [], nextCursor: null });
    expect(pd.counters.total).toBe(before);
  });

  it('filterId returns only the filter’s orgs', async () => {
    sim.pipedrive.seed({ orgs: 300, personsPerOrg: 0, customerRatio: 0.5 });
    const filter = sim.pipedrive.createFilter('Customers', { labelId: SIM_DEFAULTS.pipedriveCustomerLabelId });
    const { items } = await collect(client().organizationPages({ filterId: filter.id }));
    const expected = sim.pipedrive
      .listOrgs()
      .filter((o) => !o.is_deleted && o.label_ids.includes(SIM_DEFAULTS.pipedriveCustomerLabelId));
    expect(expected.length).toBeGreaterThan(50);
    expect(expected.length).toBeLessThan(300);
    expect(items.map((o) => o.id)).toEqual(expected.map((o) => o.id));
    expect(items.every((o) => o.labelIds.includes(17))).toBe(true);
  });
});

describe('persons', () => {
  it('lists by orgId and the whole listing; placeholder items dropped', async () => {
    sim.pipedrive.seed({ orgs: 200, personsPerOrg: 3 });
    const p1 = sim.pipedrive.upsertPerson({
      org_id: 7,
      name: 'No Primary',
      emails: [
        { value: '', primary: false, label: 'work' },
        { value: 'first@acme.example', primary: false, label: 'home' },
        { value: 'second@acme.example', primary: false, label: 'other' },
      ],
      phones: [
        { value: '  ', primary: true, label: 'work' },
        { value: '+47 400 00 000', primary: false, label: 'mobile' },
      ],
    });
    const pd = client();
    const ofOrg = await pd.listPersons({ orgId: 7 });
    const expected = sim.pipedrive.personsOfOrg(7).filter((p) => !p.is_deleted);
    expect(ofOrg.items.map((p) => p.id)).toEqual(expected.map((p) => p.id));
    expect(ofOrg.items.every((p) => p.orgId === 7)).toBe(true);
    const mine = ofOrg.items.find((p) => p.id === p1.id) as PdPerson;
    expect(mine.emails.map((e) => e.value)).toEqual(['first@acme.example', 'second@acme.example']);
    expect(primaryEmail(mine)).toBe('first@acme.example');
    expect(primaryPhone(mine)).toBe('+47 400 00 000');

    const { items, pages } = await collect(pd.personPages());
    const all = sim.pipedrive.listPersons().filter((p) => !p.is_deleted);
    expect(items).toHaveLength(all.length);
    expect(new Set(items.map((p) => p.id)).size).toBe(all.length);
    expect(pages).toBe(Math.ceil(all.length / 500));
    expect(
      items.every((p) => p.emails.every((e) => e.value.trim() !== '') && p.phones.every((e) => e.value.trim() !== '')),
    ).toBe(true);
  });
});

describe('fields and users', () => {
  it('resolves the Customer label (17, not 5) and field keys from organizationFields', async () => {
    const pd = client();
    const fields = await pd.organizationFields();
    expect(fields.length).toBeGreaterThan(5);
    expect(resolveCustomerLabel(fields, 'Customer')).toBe(SIM_DEFAULTS.pipedriveCustomerLabelId);
    expect(resolveCustomerLabel(fields, 'customer')).toBe(17);
    const err = (() => {
      try {
        resolveCustomerLabel(fields, 'Partner');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).type).toBe('bad_data');
    expect((err as ApiError).message).toMatch(/Customer.*Hot lead.*Warm lead.*Cold lead/);
    expect(resolveFieldKey(fields, 'Main phone')).toBe(PD_FIELD_KEYS.mainPhone);
    expect(resolveFieldKey(fields, PD_FIELD_KEYS.supportPortal)).toBe(PD_FIELD_KEYS.supportPortal);
    expect(() => resolveFieldKey(fields, 'Nope')).toThrow(/Support portal/);
    const options = fields.find((f) => f.key === PD_FIELD_KEYS.customerType)?.options;
    expect(options).toContainEqual({ id: 191, label: 'Company' });
  });

  it('follows offset paging of the fields (nested pagination)', async () => {
    sim.pipedrive.configure({ customerLabelId: 23 });
    const pd = client();
    // the simulator serves up to 500 per page: one page; the helper still resolves the configured id
    const fields = await pd.organizationFields();
    expect(resolveCustomerLabel(fields, 'Customer')).toBe(23);
    expect(pd.counters.byRoute['GET /v1/organizationFields']).toBe(1);
  });

  it('me() returns the user and company domain', async () => {
    const me = await client().me();
    expect(me).toEqual({ id: 1, name: 'Sim Admin', email: 'admin@sim.example', companyDomain: 'sim' });
  });
});
