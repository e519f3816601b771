import { CHATWOOT_PAGE_SIZE, type CwContact, type FilterCondition } from '@pcs/chatwoot';
import { In, OrganizationEntity, type Run } from '@pcs/db';
import { ManagedContacts, managedOrgId } from './cleanup-plan.js';
import { durable, RunEndedError, type SyncDeps } from './deps.js';
import { ensureDefinitions, isCustomerOrg, resolveRunDetails } from './details.js';
import { markUnseenOrganizations, upsertOrganizations } from './mirror.js';

/** Every managed contact: our identifier, or the original deployment's attribute. */
const MANAGED: FilterCondition[] = [{ attributeKey: 'pipedrive_org_id', operator: 'is_greater_than', value: 0 }];

/** Managed contacts looked up in the database together (their organizations' known contact ids). */
const LOOKUP_CHUNK = 1_000;
/** Chatwoot pages between two renewals of the run's lease while its contacts are listed. */
const PAGES_PER_LEASE = 20;

export interface CleanupListing {
  /** Pipedrive's customers, from a complete listing of this run. */
  customers: Set<number>;
  /** Chatwoot's managed contacts, from a complete listing of this run, in compact form. */
  managed: ManagedContacts;
}

/**
 * The two listings a cleanup decides from: the complete customer set, then every managed contact,
 * the contacts page by page into their compact form (see ManagedContacts), with the contact id the
 * database holds for their organization looked up per chunk: memory grows by a few bytes a
 * contact, not by the contacts. Any failure throws: nothing changes, the run fails.
 */
export async function listForCleanup(deps: SyncDeps, run: Run): Promise<CleanupListing> {
  const { ds, config } = deps;
  const customers = new Set<number>();
  const details = await resolveRunDetails(deps, 'cleanup');
  const viaFilter = Boolean(config.pipedrive.customerFilterId);
  for await (const page of deps.pipedrive.organizationPages({ filterId: config.pipedrive.customerFilterId })) {
    const rows = page.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, viaFilter) }));
    await durable(deps, () => upsertOrganizations(ds, rows, run.id));
    for (const r of rows) if (r.isCustomer) customers.add(r.org.id);
    if (!(await deps.runs.progress(run.id))) throw new RunEndedError(run.id);
  }
  // The mirror learns what the complete listing showed: organizations it did not list are no
  // longer customers (deleted, merged, out of the filter), so no sync brings their contact back.
  await durable(deps, () => markUnseenOrganizations(ds, run.id, !viaFilter));
  if (!(await ensureDefinitions(deps)))
    throw new Error(
      'the Chatwoot account has no pipedrive_org_id attribute definition and the token may not create it (needs an administrator)',
    );
  const managed = new ManagedContacts();
  let pending: { contact: CwContact; orgId: number }[] = [];
  // The contact id the database holds for each organization of a chunk, then the chunk's compact form.
  const flush = async () => {
    if (!pending.length) return;
    const ids = [...new Set(pending.map((p) => p.orgId))];
    const rows = await durable(deps, () =>
      ds
        .getRepository(OrganizationEntity)
        .find({ select: { id: true, chatwootContactId: true }, where: { id: In(ids) } }),
    );
    const known = new Map(rows.map((r) => [r.id, r.chatwootContactId]));
    for (const p of pending) managed.add(p.contact, p.orgId, known.get(p.orgId), customers.has(p.orgId));
    pending = [];
  };
  let seen = 0;
  for (let page = 1; ; page++) {
    const { contacts, count } = await deps.chatwoot.filterContacts(MANAGED, page);
    for (const contact of contacts) {
      const orgId = managedOrgId(contact);
      if (orgId) pending.push({ contact, orgId });
    }
    if (pending.length >= LOOKUP_CHUNK) await flush();
    seen += contacts.length;
    // the page cap guards against a server that keeps answering full pages
    if (contacts.length < CHATWOOT_PAGE_SIZE || seen >= count || page > Math.ceil(count / CHATWOOT_PAGE_SIZE) + 1)
      break;
    if (page % PAGES_PER_LEASE === 0 && !(await deps.runs.progress(run.id))) throw new RunEndedError(run.id);
  }
  await flush();
  return { customers, managed };
}
