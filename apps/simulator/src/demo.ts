import type { Simulator } from './index.js';

export interface DemoAccount {
  orgs: number;
  customers: number;
  persons: number;
  /** A contact the original deployment made (no identifier), which the first sync adopts. */
  legacyContactOrgId: number | null;
  /** A contact of an organization that is no longer a customer, which cleanup marks. */
  formerCustomerOrgId: number | null;
}

/**
 * A small, realistic account for `pnpm run demo` and the compose `demo` profile: organizations with
 * people, phones in local and international formats, addresses, ~75 % customers, plus two contacts
 * in Chatwoot left by the original deployment (one to adopt, one whose org stopped being a customer).
 */
export function seedDemoAccount(sim: Simulator, opts: { orgs?: number; seed?: number } = {}): DemoAccount {
  const seeded = sim.pipedrive.seed({
    orgs: opts.orgs ?? 60,
    personsPerOrg: 2,
    customerRatio: 0.75,
    seed: opts.seed ?? 42,
  });
  const customerLabel = sim.pipedrive.config.customerLabelId;
  const orgs = sim.pipedrive.listOrgs().filter((o) => o.id >= seeded.firstOrgId && o.id <= seeded.lastOrgId);
  const customers = orgs.filter((o) => o.label_ids.includes(customerLabel));
  const former = orgs.find((o) => !o.label_ids.includes(customerLabel));
  const legacy = customers[0];
  const accountBase = `${sim.url || 'http://localhost'}/pipedrive`;
  if (legacy) {
    // Chatwoot lists and filters only contacts with an email, a phone or an identifier; the original
    // deployment's contacts carried the email of the organization's first person.
    const email =
      sim.pipedrive.personsOfOrg(legacy.id).flatMap((p) => p.emails.map((e) => e.value))[0] ??
      `contact@org${legacy.id}.example`;
    sim.chatwoot.seedContact({
      name: legacy.name,
      email,
      custom_attributes: {
        pipedrive_org_id: legacy.id,
        status: 'Customer',
        type: 'organization',
        pipedrive_url: `${accountBase}/organization/${legacy.id}`,
      },
    });
  }
  if (former) {
    sim.chatwoot.seedContact({
      name: former.name,
      identifier: `pipedrive:org:${former.id}`,
      custom_attributes: {
        pipedrive_org_id: former.id,
        status: 'Customer',
        type: 'organization',
        pipedrive_url: `${accountBase}/organization/${former.id}`,
      },
    });
  }
  return {
    orgs: seeded.orgs,
    customers: customers.length,
    persons: seeded.persons,
    legacyContactOrgId: legacy?.id ?? null,
    formerCustomerOrgId: former?.id ?? null,
  };
}
