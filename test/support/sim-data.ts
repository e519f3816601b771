import { PD_FIELD_KEYS, SIM_DEFAULTS, type Simulator } from '@pcs/simulator';

/** Chatwoot write requests seen by the simulator (filter is a read). */
export function chatwootWrites(sim: Simulator): number {
  return Object.entries(sim.stats().byApi.chatwoot.byRoute)
    .filter(([route]) => /^(POST|PUT|PATCH|DELETE) /.test(route) && !route.endsWith('/contacts/filter'))
    .reduce((n, [, c]) => n + c, 0);
}

export const CUSTOMER = SIM_DEFAULTS.pipedriveCustomerLabelId;

/**
 * The mixed data set of the sync tests: what each organization is for is in its name.
 * Returns the ids by role.
 */
export function seedMixed(sim: Simulator) {
  const pd = sim.pipedrive;
  const org = (name: string, extra: Record<string, unknown> = {}) =>
    pd.upsertOrg({
      name,
      label_ids: [CUSTOMER],
      address: { value: 'x', locality: 'Sydney', country: 'Australia' },
      ...extra,
    }).id;
  const ids = {
    plain: org('Plain Customer Pty Ltd'),
    nonCustomer: pd.upsertOrg({ name: 'Just A Lead', label_ids: [] }).id,
    softDeleted: org('Deleted Customer'),
    noPersons: org('Nobody Works Here'),
    phoneField: org('Phone In Field', { custom_fields: { [PD_FIELD_KEYS.mainPhone]: '+61 2 9876 5432' } }),
    localNumber: org('Local Number Co'),
    sharedA: org('Shared Phone A'),
    sharedB: org('Shared Phone B'),
    invalidEmail: org('Bad Email Inc'),
    emoji: org('Rocket 🚀 Café'),
    rtl: org('شركة الاختبار المحدودة'),
    long: org('L'.repeat(300)),
    legacy: org('Old Deployment Customer'),
    support: org('Has Support Link', { custom_fields: { [PD_FIELD_KEYS.supportPortal]: 'https://help.example/acme' } }),
  };
  pd.upsertPerson({ org_id: ids.plain, name: 'Pat Plain', emails: ['pat@plain.example'], phones: ['+61 412 000 001'] });
  pd.upsertPerson({ org_id: ids.softDeleted, name: 'Del Eted', emails: ['del@deleted.example'] });
  pd.deleteOrg(ids.softDeleted);
  pd.upsertPerson({ org_id: ids.phoneField, name: 'No Phone', emails: ['field@phone.example'] });
  pd.upsertPerson({
    org_id: ids.localNumber,
    name: 'Lou Cal',
    emails: ['lou@local.example'],
    phones: ['0412 345 678'],
  });
  pd.upsertPerson({ org_id: ids.sharedA, name: 'Sam A', emails: ['a@shared.example'], phones: ['+61 413 222 333'] });
  pd.upsertPerson({ org_id: ids.sharedB, name: 'Sam B', emails: ['b@shared.example'], phones: ['+61 413 222 333'] });
  pd.upsertPerson({
    org_id: ids.invalidEmail,
    name: 'Bad Mail',
    emails: ['not-an-email'],
    phones: ['+61 414 555 666'],
  });
  pd.upsertPerson({ org_id: ids.emoji, name: 'Émile', emails: ['emile@rocket.example'] });
  pd.upsertPerson({ org_id: ids.rtl, name: 'سارة', emails: ['sara@test.example'] });
  pd.upsertPerson({ org_id: ids.long, name: 'Long Name', emails: ['long@name.example'] });
  pd.upsertPerson({ org_id: ids.legacy, name: 'Old Timer', emails: ['old@legacy.example'] });
  // The person with the lower id has no email: the email comes from the next one.
  pd.upsertPerson({ org_id: ids.support, name: 'First Nomail' });
  pd.upsertPerson({ org_id: ids.support, name: 'Second Mail', emails: ['second@support.example'] });
  // A contact the original deployment made: custom attribute, no identifier, with a conversation.
  const legacyContact = sim.chatwoot.seedContact({
    name: 'Old Deployment Customer',
    email: 'old@legacy.example',
    custom_attributes: { pipedrive_org_id: ids.legacy, status: 'Customer' },
  });
  sim.chatwoot.addConversation(legacyContact.id);
  return {
    ids,
    legacyContactId: legacyContact.id,
    liveCustomers: Object.entries(ids)
      .filter(([k]) => k !== 'nonCustomer' && k !== 'softDeleted')
      .map(([, v]) => v),
  };
}

/** The live customer organizations of the simulated Pipedrive (customer label, not deleted). */
export function liveCustomers(sim: Simulator) {
  return sim.pipedrive.listOrgs().filter((o) => !o.is_deleted && o.label_ids.includes(CUSTOMER));
}

/**
 * What Chatwoot must hold after a sync: exactly one contact per live customer organization, by
 * identifier, and nothing else. Returns what is wrong (empty when all is right).
 */
export function contactProblems(sim: Simulator): { duplicates: string[]; missing: number[]; extra: string[] } {
  const customers = liveCustomers(sim);
  const identifiers = sim.chatwoot.listAllContacts().map((c) => c.identifier ?? '(none)');
  const seen = new Set<string>();
  const duplicates = identifiers.filter((i) => (seen.has(i) ? true : (seen.add(i), false)));
  const wanted = new Set(customers.map((o) => `pipedrive:org:${o.id}`));
  return {
    duplicates,
    missing: customers.filter((o) => !seen.has(`pipedrive:org:${o.id}`)).map((o) => o.id),
    extra: [...seen].filter((i) => !wanted.has(i)),
  };
}
