import type { Config } from '@pcs/config';
import {
  OrganizationEntity,
  PersonEntity,
  RecordOutcomeEntity,
  type DataSource,
  type Organization,
  type SyncState,
} from '@pcs/db';

/**
 * The `manage org <id> --json` document (docs/contract.md §2): what the sync knows of one
 * organization, read from the database mirror of Pipedrive and the per-record outcomes.
 */
export interface OrgDocument {
  orgId: number;
  name: string;
  /** Whether the sync treats it as a customer (it then has a contact in Chatwoot). */
  customer: boolean;
  /** Why it is or is not a customer: the label or filter that decides it, or its deletion. */
  customerReason: string;
  /** What decides customers in this deployment (PIPEDRIVE_CUSTOMER_LABEL or PIPEDRIVE_CUSTOMER_FILTER_ID). */
  customerBasis: { by: 'label'; label: string; labelIds: number[] } | { by: 'filter'; filterId: number };
  /** Deleted in Pipedrive (or no longer listed by it). */
  deleted: boolean;
  contactId: number | null;
  /** The `status` attribute the sync last gave the contact: `Customer`, `Former customer`, or null. */
  contactStatus: string | null;
  /** pending | synced | warning (a value left off) | failed */
  syncState: SyncState;
  /** When its contact was last written (or found unchanged after a write) in Chatwoot. */
  lastWrittenAt: string | null;
  /** When a run last looked at it (written, unchanged or failed). */
  lastAttemptAt: string | null;
  /** When a complete Pipedrive listing last saw it, and which run. */
  lastSeenAt: string | null;
  lastSeenRunId: string | null;
  /** Pipedrive's own update time of the organization. */
  pipedriveUpdatedAt: string | null;
  /** Persons of the organization the mirror knows (the email and phone come from the first with one). */
  persons: number;
  /**
   * Values left off the contact, and why. `value` is the Pipedrive value Chatwoot refused: it is
   * not sent again until it changes in Pipedrive (docs/contract.md §5).
   */
  leftOff: { field: string; value: string | null; reason: string }[];
  /** The last failure of its upsert (current: the organization is still failed). */
  lastError: { at: string | null; runId: string | null; type: string | null; message: string; current: boolean } | null;
  /** The most recent per-run outcomes, newest first. */
  outcomes: OrgOutcome[];
}

export interface OrgOutcome {
  runId: string;
  /** sync | cleanup (null when the run was pruned). */
  type: string | null;
  /** full | incremental | webhook | mark | delete | … */
  mode: string | null;
  at: string;
  outcome: string;
  errorType: string | null;
  message: string | null;
}

export const ORG_OUTCOME_LIMIT = 20;

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** A timestamp read with a raw query (mysql2 gives a Date for DATETIME; timezone 'Z'). */
const isoRaw = (v: unknown) =>
  v instanceof Date ? v.toISOString() : v ? new Date(`${String(v)}Z`).toISOString() : null;

/** What the sync knows of one organization; null when it has never seen it (no row in the mirror). */
export async function describeOrg(
  ds: DataSource,
  orgId: number,
  config: Config,
  limit = ORG_OUTCOME_LIMIT,
): Promise<OrgDocument | null> {
  const [org, outcomes, lastFailed, persons] = await Promise.all([
    ds.getRepository(OrganizationEntity).findOneBy({ id: orgId }),
    recentOutcomes(ds, orgId, limit),
    ds.getRepository(RecordOutcomeEntity).findOne({
      where: { orgId, outcome: 'failed' },
      order: { createdAt: 'DESC', id: 'DESC' },
    }),
    ds.getRepository(PersonEntity).countBy({ orgId, isDeleted: false }),
  ]);
  if (!org) return null;
  const lastError: OrgDocument['lastError'] =
    org.syncState === 'failed' && org.lastError
      ? {
          at: iso(org.lastAttemptAt),
          runId: lastFailed?.runId ?? null,
          type: org.lastErrorType,
          message: org.lastError,
          current: true,
        }
      : lastFailed
        ? {
            at: iso(lastFailed.createdAt),
            runId: lastFailed.runId,
            type: lastFailed.errorType,
            message: lastFailed.message ?? '',
            current: false,
          }
        : null;
  const seen = org.seenRunId
    ? ((await ds.query('SELECT started_at, listing_started_at FROM runs WHERE id = ?', [org.seenRunId])) as {
        started_at: unknown;
        listing_started_at: unknown;
      }[])
    : [];
  return {
    orgId: org.id,
    name: org.name,
    customer: org.isCustomer && !org.isDeleted,
    customerReason: customerReason(org, config),
    customerBasis: config.pipedrive.customerFilterId
      ? { by: 'filter', filterId: config.pipedrive.customerFilterId }
      : { by: 'label', label: config.pipedrive.customerLabel, labelIds: org.labelIds ?? [] },
    deleted: org.isDeleted,
    contactId: org.chatwootContactId,
    contactStatus: org.contactStatus,
    syncState: org.syncState,
    lastWrittenAt: iso(org.lastSyncedAt),
    lastAttemptAt: iso(org.lastAttemptAt),
    lastSeenAt: seen[0] ? isoRaw(seen[0].listing_started_at ?? seen[0].started_at) : null,
    lastSeenRunId: org.seenRunId,
    pipedriveUpdatedAt: iso(org.pipedriveUpdateTime),
    persons,
    leftOff: leftOff(org),
    lastError,
    outcomes,
  };
}

function customerReason(org: Organization, config: Config): string {
  const { customerFilterId: filterId, customerLabel: label } = config.pipedrive;
  if (org.isDeleted) return 'deleted in Pipedrive (or no longer listed by it)';
  if (filterId)
    return org.isCustomer
      ? `in the customer filter ${filterId} (PIPEDRIVE_CUSTOMER_FILTER_ID)`
      : `not in the customer filter ${filterId} (PIPEDRIVE_CUSTOMER_FILTER_ID) when last listed`;
  return org.isCustomer
    ? `has the label "${label}" (PIPEDRIVE_CUSTOMER_LABEL)`
    : `does not have the label "${label}" (PIPEDRIVE_CUSTOMER_LABEL)`;
}

/**
 * The values left off: those Chatwoot refused (remembered with their Pipedrive value, docs/contract.md
 * §5) and, while the organization is in the warning state, the ones its last write named (an
 * invalid phone number or email), with the reason the warning gave.
 */
function leftOff(org: Organization): OrgDocument['leftOff'] {
  const reasons = new Map<string, string>();
  if (org.syncState === 'warning' && org.lastError) {
    for (const part of org.lastError.split('; ')) {
      const m = /^([a-z_]+) left off: (.+)$/s.exec(part);
      if (m && !reasons.has(m[1]!)) reasons.set(m[1]!, m[2]!);
    }
  }
  const out: OrgDocument['leftOff'] = [];
  for (const [field, value] of Object.entries(org.rejectedValues ?? {})) {
    const why = reasons.get(field) ?? 'Chatwoot refused it';
    out.push({ field, value, reason: `${why}; not sent again until it changes in Pipedrive` });
    reasons.delete(field);
  }
  for (const [field, reason] of reasons) out.push({ field, value: null, reason });
  return out;
}

async function recentOutcomes(ds: DataSource, orgId: number, limit: number): Promise<OrgOutcome[]> {
  const rows = (await ds.query(
    `SELECT o.run_id, o.outcome, o.error_type, o.message, o.created_at, r.type, r.mode
       FROM record_outcomes o LEFT JOIN runs r ON r.id = o.run_id
      WHERE o.org_id = ?
      ORDER BY o.created_at DESC, o.id DESC
      LIMIT ?`,
    [orgId, limit],
  )) as {
    run_id: string;
    outcome: string;
    error_type: string | null;
    message: string | null;
    created_at: unknown;
    type: string | null;
    mode: string | null;
  }[];
  return rows.map((r) => ({
    runId: r.run_id,
    type: r.type,
    mode: r.mode,
    at: isoRaw(r.created_at)!,
    errorType: r.error_type,
    ...readOutcome(r.outcome, r.message),
  }));
}

/**
 * A dry run (`sync --dry-run`) records its plan as the outcome's message (JSON): shown as what it
 * would have done, not as a write that happened.
 */
function readOutcome(outcome: string, message: string | null): { outcome: string; message: string | null } {
  if (!message?.startsWith('{"dryRun":true')) return { outcome, message };
  try {
    const plan = JSON.parse(message) as { contactId?: number; fields?: string[] };
    const parts = [
      plan.contactId ? `contact ${plan.contactId}` : undefined,
      plan.fields?.length ? `fields ${plan.fields.join(', ')}` : undefined,
    ].filter(Boolean);
    return { outcome: `would be ${outcome} (dry run)`, message: parts.length ? parts.join('; ') : null };
  } catch {
    return { outcome, message };
  }
}
