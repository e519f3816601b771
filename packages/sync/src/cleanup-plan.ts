import type { CwContact } from '@pcs/chatwoot';
import { IDENTIFIER_PREFIX, identifierOf, orgIdOfIdentifier, STATUS_FORMER } from './contact.js';

/**
 * What a cleanup would change, decided from two complete listings of the same run (Pipedrive's
 * customers, Chatwoot's managed contacts) and what the database knows. Pure: no I/O.
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
  affected: AffectedContact[];
  duplicates: { orgId: number; canonicalContactId: number; duplicateContactIds: number[] }[];
  orphans: { orgId: number; contactId: number; name: string | null }[];
}

/** The org a managed contact belongs to: its identifier first, else the original deployment's attribute. */
export function managedOrgId(c: CwContact): number | undefined {
  const fromIdentifier = orgIdOfIdentifier(c.identifier);
  if (fromIdentifier) return fromIdentifier;
  if (c.identifier?.startsWith(IDENTIFIER_PREFIX)) return undefined;
  const attr = Number(c.customAttributes.pipedrive_org_id);
  return Number.isInteger(attr) && attr > 0 ? attr : undefined;
}

export interface PlanInput {
  managedContacts: CwContact[];
  customers: ReadonlySet<number>;
  /** The contact id the database holds for an organization, if any. */
  knownContact: ReadonlyMap<number, number | null>;
  action: 'mark' | 'delete';
  mergeDuplicates: boolean;
  force: boolean;
  maxPercent: number;
}

export interface CleanupPlan {
  report: Pick<CleanupReport, 'managed' | 'stale' | 'toChange' | 'duplicates' | 'orphans' | 'refused'>;
  /** Every change, in order: stale contacts by org id, then merges. */
  changes: AffectedContact[];
}

/** The organizations of the managed contacts (for the database lookup of their known contact ids). */
export function managedOrgIds(contacts: CwContact[]): number[] {
  return [...new Set(contacts.map(managedOrgId).filter((id): id is number => id !== undefined))];
}

export function planCleanup(input: PlanInput): CleanupPlan {
  const { customers, action } = input;
  // Group by organization: duplicates, orphans, stale.
  const byOrg = new Map<number, CwContact[]>();
  for (const c of input.managedContacts) {
    const orgId = managedOrgId(c);
    if (orgId) byOrg.set(orgId, [...(byOrg.get(orgId) ?? []), c]);
  }
  const duplicates: CleanupReport['duplicates'] = [];
  const orphans: CleanupReport['orphans'] = [];
  for (const [orgId, list] of byOrg) {
    const sorted = [...list].sort((a, b) => a.id - b.id);
    const known = input.knownContact.get(orgId);
    const main =
      sorted.find((c) => c.identifier === identifierOf(orgId)) ?? sorted.find((c) => c.id === known) ?? sorted[0]!;
    if (sorted.length > 1)
      duplicates.push({
        orgId,
        canonicalContactId: main.id,
        duplicateContactIds: sorted.filter((c) => c !== main).map((c) => c.id),
      });
    // A managed contact the database does not know (restored from an old backup, or made by hand).
    if (!known) orphans.push({ orgId, contactId: main.id, name: main.name });
  }
  const stale = [...byOrg.keys()].filter((orgId) => !customers.has(orgId)).sort((a, b) => a - b);

  // Contacts marked by earlier runs do not count again: only what this run would change.
  const changes: AffectedContact[] = [];
  for (const orgId of stale) {
    for (const c of byOrg.get(orgId)!) {
      if (action === 'mark' && c.customAttributes.status === STATUS_FORMER) continue;
      changes.push({
        orgId,
        contactId: c.id,
        name: c.name,
        action,
        reason: 'organization is no longer a Pipedrive customer (label removed, deleted, merged or out of the filter)',
      });
    }
  }
  if (input.mergeDuplicates) {
    for (const d of duplicates) {
      if (!customers.has(d.orgId) && action === 'delete') continue; // deleted anyway
      for (const id of d.duplicateContactIds)
        changes.push({
          orgId: d.orgId,
          contactId: id,
          name: byOrg.get(d.orgId)!.find((c) => c.id === id)?.name ?? null,
          action: 'merge',
          intoContactId: d.canonicalContactId,
          reason: 'duplicate contact of the same organization',
        });
    }
  }
  // The cap: a cleanup that would change too much is refused, unless forced.
  const toChange = new Set(changes.filter((p) => p.action !== 'merge').map((p) => p.orgId)).size;
  const managed = byOrg.size;
  const share = managed ? (toChange / managed) * 100 : 0;
  const refused =
    share > input.maxPercent && !input.force && toChange > 0
      ? `${toChange} of ${managed} managed contacts (${share.toFixed(1)}%) would change, above CLEANUP_MAX_PERCENT=${input.maxPercent}%: nothing changed; check Pipedrive, then run \`pnpm manage cleanup --force\` if this is right`
      : undefined;
  return { report: { managed, stale: stale.length, toChange, duplicates, orphans, refused }, changes };
}
