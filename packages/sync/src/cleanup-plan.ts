import type { CwContact } from '@pcs/chatwoot';
import { IDENTIFIER_PREFIX, identifierOf, orgIdOfIdentifier, STATUS_FORMER } from './contact.js';

/**
 * What a cleanup would change, decided from two complete listings of the same run (Pipedrive's
 * customers, Chatwoot's managed contacts) and what the database knows. Pure: no I/O.
 *
 * Memory is bounded by design: a managed contact is kept as a few numbers (contact id, org id,
 * flags) as its page is read, never as the contact itself, and only a contact that may be
 * reported keeps its name; the changes are made one at a time as they are read; the lists of a
 * report are capped (their totals are counted).
 */

export interface CleanupOptions {
  dryRun: boolean;
  force: boolean;
  mergeDuplicates: boolean;
  trigger: string;
  runId?: string;
}

export interface AffectedContact {
  orgId: number;
  contactId: number;
  name: string | null;
  action: 'mark' | 'delete' | 'merge';
  /** For merges: the contact the duplicate goes into. */
  intoContactId?: number;
  result?: 'marked' | 'deleted' | 'merged' | 'skipped' | 'failed' | 'would';
  reason: string;
  /** For a failed change: the error's kind (see @pcs/errors). */
  errorKind?: string;
}

export interface CleanupReport {
  runId: string;
  status: string;
  dryRun: boolean;
  action: 'mark' | 'delete';
  managed: number;
  customers: number;
  stale: number;
  /** Stale contacts this run changes (or would): those not already marked by an earlier run. */
  toChange: number;
  marked: number;
  deleted: number;
  skipped: number;
  failed: number;
  refused?: string;
  /** Every change this run makes (or would): stale contacts and merged duplicates. */
  changeCount: number;
  /** The first REPORT_LIST_CAP.affected changes (the counters count every one). */
  affected: AffectedContact[];
  /** The first REPORT_LIST_CAP.duplicates organizations with more than one contact (all: duplicateCount). */
  duplicates: { orgId: number; canonicalContactId: number; duplicateContactIds: number[] }[];
  duplicateCount: number;
  /** The first REPORT_LIST_CAP.orphans managed contacts the database does not know (all: orphanCount). */
  orphans: { orgId: number; contactId: number; name: string | null }[];
  orphanCount: number;
}

/** How many entries each list of a report keeps (the runs table keeps as many). */
export const REPORT_LIST_CAP = { affected: 5_000, duplicates: 1_000, orphans: 1_000 } as const;

/** The org a managed contact belongs to: its identifier first, else the original deployment's attribute. */
export function managedOrgId(c: CwContact): number | undefined {
  const fromIdentifier = orgIdOfIdentifier(c.identifier);
  if (fromIdentifier) return fromIdentifier;
  if (c.identifier?.startsWith(IDENTIFIER_PREFIX)) return undefined;
  const attr = Number(c.customAttributes.pipedrive_org_id);
  return Number.isInteger(attr) && attr > 0 ? attr : undefined;
}

/** The contact carries our identifier for its organization (it is that organization's contact). */
const CANONICAL = 1;
/** Marked `Former customer` by an earlier run. */
const FORMER = 2;
/** The database holds this contact's id for its organization. */
const KNOWN = 4;
/** The database holds a contact id for this contact's organization (else: an orphan). */
const ORG_KNOWN = 8;

/**
 * Every managed contact of one listing, as little as the decision needs: contact id, org id and
 * four flags in typed arrays (17 bytes a contact), plus the name of the contacts a report may
 * name (those of organizations that stopped being customers or that the database does not know,
 * and possible duplicates). Filled page by page as the listing goes.
 */
export class ManagedContacts {
  private contactIds = new Float64Array(1_024);
  private orgIds = new Float64Array(1_024);
  private flags = new Uint8Array(1_024);
  private readonly names = new Map<number, string | null>();
  private n = 0;

  /** Contacts added (a contact listed twice counts twice; the plan counts it once). */
  get size(): number {
    return this.n;
  }

  /**
   * Adds one managed contact. `knownContactId`: the contact id the database holds for its
   * organization (null or undefined: none). `customer`: whether its organization is a customer.
   */
  add(c: CwContact, orgId: number, knownContactId: number | null | undefined, customer: boolean): void {
    if (this.n === this.contactIds.length) this.grow();
    const i = this.n++;
    let f = 0;
    if (c.identifier === identifierOf(orgId)) f |= CANONICAL;
    if (c.customAttributes.status === STATUS_FORMER) f |= FORMER;
    if (knownContactId) f |= ORG_KNOWN;
    if (knownContactId === c.id) f |= KNOWN;
    this.contactIds[i] = c.id;
    this.orgIds[i] = orgId;
    this.flags[i] = f;
    // Named in a report: a stale contact (changed), an orphan, a non-canonical one (a duplicate to merge).
    if (!customer || !(f & ORG_KNOWN) || !(f & CANONICAL)) this.names.set(i, c.name);
  }

  private grow(): void {
    const size = this.contactIds.length * 2;
    const ids = new Float64Array(size);
    ids.set(this.contactIds);
    const orgs = new Float64Array(size);
    orgs.set(this.orgIds);
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    this.contactIds = ids;
    this.orgIds = orgs;
    this.flags = flags;
  }

  /** Indexes ordered by organization, then contact id. */
  private sorted(): Uint32Array {
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    const { orgIds, contactIds } = this;
    return order.sort((a, b) => orgIds[a]! - orgIds[b]! || contactIds[a]! - contactIds[b]!);
  }

  /**
   * The organizations in ascending id order, each with its contacts by id (a contact listed twice
   * once) and its main contact: the one with our identifier, else the one the database knows,
   * else the oldest.
   */
  *organizations(): Generator<ManagedOrg> {
    const order = this.sorted();
    const { orgIds, contactIds, flags } = this;
    let start = 0;
    while (start < order.length) {
      const orgId = orgIds[order[start]!]!;
      const members: number[] = [];
      let end = start;
      for (; end < order.length && orgIds[order[end]!] === orgId; end++) {
        const i = order[end]!;
        if (members.length && contactIds[members[members.length - 1]!] === contactIds[i]) continue;
        members.push(i);
      }
      const main = members.find((i) => flags[i]! & CANONICAL) ?? members.find((i) => flags[i]! & KNOWN) ?? members[0]!;
      const contacts = members.map((i) => this.contact(i));
      yield {
        orgId,
        orgKnown: members.some((i) => flags[i]! & ORG_KNOWN),
        main: contacts[members.indexOf(main)]!,
        contacts,
      };
      start = end;
    }
  }

  private contact(i: number): ManagedContact {
    return { id: this.contactIds[i]!, name: this.names.get(i) ?? null, former: (this.flags[i]! & FORMER) !== 0 };
  }
}

export interface ManagedContact {
  id: number;
  name: string | null;
  former: boolean;
}

export interface ManagedOrg {
  orgId: number;
  orgKnown: boolean;
  /** One of `contacts`. */
  main: ManagedContact;
  /** By id. */
  contacts: ManagedContact[];
}

export interface PlanInput {
  managed: ManagedContacts;
  customers: ReadonlySet<number>;
  action: 'mark' | 'delete';
  mergeDuplicates: boolean;
  force: boolean;
  maxPercent: number;
}

export interface CleanupPlan {
  report: Pick<
    CleanupReport,
    | 'managed'
    | 'stale'
    | 'toChange'
    | 'changeCount'
    | 'duplicates'
    | 'duplicateCount'
    | 'orphans'
    | 'orphanCount'
    | 'refused'
  >;
  /** How many changes changes() yields. */
  changeCount: number;
  /** Every change, in order: stale contacts by org id, then merges; each made as it is read. */
  changes(): Generator<AffectedContact>;
}

const STALE_REASON =
  'organization is no longer a Pipedrive customer (label removed, deleted, merged or out of the filter)';
const DUPLICATE_REASON = 'duplicate contact of the same organization';

export function planCleanup(input: PlanInput): CleanupPlan {
  const { customers, action, managed: contacts } = input;
  const duplicates: CleanupReport['duplicates'] = [];
  const orphans: CleanupReport['orphans'] = [];
  let managed = 0;
  let stale = 0;
  let duplicateCount = 0;
  let orphanCount = 0;
  let toChange = 0;
  let changeCount = 0;

  // Contacts marked by earlier runs do not count again: only what this run would change.
  const staleChanges = (o: ManagedOrg) =>
    customers.has(o.orgId) ? [] : o.contacts.filter((c) => !(action === 'mark' && c.former));
  // A duplicate of an organization whose contacts are deleted anyway is not merged.
  const merges = (o: ManagedOrg) =>
    !input.mergeDuplicates || (!customers.has(o.orgId) && action === 'delete')
      ? []
      : o.contacts.filter((c) => c !== o.main);

  for (const o of contacts.organizations()) {
    managed += 1;
    if (!customers.has(o.orgId)) stale += 1;
    if (o.contacts.length > 1) {
      duplicateCount += 1;
      if (duplicates.length < REPORT_LIST_CAP.duplicates)
        duplicates.push({
          orgId: o.orgId,
          canonicalContactId: o.main.id,
          duplicateContactIds: o.contacts.filter((c) => c !== o.main).map((c) => c.id),
        });
    }
    // A managed contact the database does not know (restored from an old backup, or made by hand).
    if (!o.orgKnown) {
      orphanCount += 1;
      if (orphans.length < REPORT_LIST_CAP.orphans)
        orphans.push({ orgId: o.orgId, contactId: o.main.id, name: o.main.name });
    }
    const changing = staleChanges(o).length;
    if (changing) toChange += 1;
    changeCount += changing + merges(o).length;
  }

  // The cap: a cleanup that would change too much is refused, unless forced.
  const share = managed ? (toChange / managed) * 100 : 0;
  const refused =
    share > input.maxPercent && !input.force && toChange > 0
      ? `${toChange} of ${managed} managed contacts (${share.toFixed(1)}%) would change, above CLEANUP_MAX_PERCENT=${input.maxPercent}%: nothing changed; check Pipedrive, then run \`pnpm manage cleanup --force\` if this is right`
      : undefined;

  function* changes(): Generator<AffectedContact> {
    for (const o of contacts.organizations())
      for (const c of staleChanges(o))
        yield { orgId: o.orgId, contactId: c.id, name: c.name, action, reason: STALE_REASON };
    for (const o of contacts.organizations())
      for (const c of merges(o))
        yield {
          orgId: o.orgId,
          contactId: c.id,
          name: c.name,
          action: 'merge',
          intoContactId: o.main.id,
          reason: DUPLICATE_REASON,
        };
  }

  return {
    report: { managed, stale, toChange, changeCount, duplicates, duplicateCount, orphans, orphanCount, refused },
    changeCount,
    changes,
  };
}
