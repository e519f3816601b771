import type { ChatwootClient, ContactInput, CwContact } from '@pcs/chatwoot';
import type { Organization, Person } from '@pcs/db';
import { describeError } from '@pcs/errors';
import { isApiError, type ApiError } from '@pcs/http';
import { buildContact, type ContactPayload, type MappingContext, type ValueField } from './contact.js';

/**
 * Upsert of one organization, exactly as docs/contract.md §5 says: stored contact id → identifier →
 * the original deployment's `pipedrive_org_id` attribute (adopted: identifier set, conversations
 * kept) → create. An unchanged content hash costs no Chatwoot call. A value Chatwoot refuses
 * (format, or held by another contact) is left off, remembered, and the contact still written.
 */

export type Action = 'created' | 'updated' | 'unchanged' | 'adopted' | 'failed';

export interface UpsertResult {
  orgId: number;
  action: Action;
  /** A value was left off (the outcome is then recorded as a warning). */
  warning?: string;
  errorType?: string;
  message?: string;
  /** What to store on the organization row. */
  row: Partial<Organization>;
  /** A dry run's plan (docs/contract.md §2): the contact it would write, the fields that would change. */
  plan?: DryRunPlan;
}

export interface DryRunPlan {
  contactId?: number;
  fields?: string[];
}

export interface UpsertContext {
  chatwoot: ChatwootClient;
  mapping: MappingContext;
  inboxId?: number;
  /** False when the account's `pipedrive_org_id` attribute definition could not be created (non-admin token). */
  legacyLookup: boolean;
  /** docs/contract.md §2 `sync --dry-run`: decide and report, write nothing (see planOrganization). */
  dryRun?: boolean;
}

const VALUE_FIELDS: readonly ValueField[] = ['email', 'phone_number'];

function toInput(p: ContactPayload, inboxId: number | undefined, forCreate: boolean): ContactInput {
  return {
    name: p.name,
    identifier: p.identifier,
    email: p.email,
    phone_number: p.phone_number,
    additional_attributes: p.additional_attributes,
    custom_attributes: p.custom_attributes,
    ...(forCreate && inboxId ? { inbox_id: inboxId } : {}),
  };
}

/** The value fields a Chatwoot 422 names, when all of them are ones we may leave off. */
function rejectedFields(err: unknown): ValueField[] | undefined {
  if (!isApiError(err) || (err.type !== 'conflict' && err.type !== 'bad_data')) return undefined;
  const fields = err.attributes.filter((a): a is ValueField => (VALUE_FIELDS as readonly string[]).includes(a));
  return fields.length && fields.length === err.attributes.length ? fields : undefined;
}

/**
 * What a batch already found in Chatwoot for an organization without a stored contact id:
 * `null` means looked up and absent (create at once); undefined means not looked up.
 */
export type KnownContact = { contactId: number; adopted: boolean; contact?: CwContact } | null | undefined;

export async function upsertOrganization(
  ctx: UpsertContext,
  org: Organization,
  persons: Person[],
  now: Date,
  known?: KnownContact,
): Promise<UpsertResult> {
  const rejected = { ...(org.rejectedValues ?? {}) } as Partial<Record<ValueField, string>>;
  const source = { id: org.id, name: org.name, city: org.city, country: org.country, customFields: org.customFields };
  const people = persons.map((p) => ({ id: p.id, emails: p.emails ?? [], phones: p.phones ?? [] }));
  // A remembered rejection only holds while its source value is the same.
  const desired = buildContact(source, people, ctx.mapping, rejected);
  for (const f of VALUE_FIELDS) if (rejected[f] !== undefined && rejected[f] !== desired.sources[f]) delete rejected[f];

  if (
    org.chatwootContactId &&
    org.contentHash === desired.hash &&
    (org.syncState === 'synced' || org.syncState === 'warning')
  ) {
    return { orgId: org.id, action: 'unchanged', row: { lastAttemptAt: now } };
  }

  if (ctx.dryRun) return planOrganization(ctx, org, desired.payload, known);

  const warnings = [...desired.warnings];
  const payload: ContactPayload = { ...desired.payload };

  /** Writes (create or update), leaving off values Chatwoot refuses, at most once per field. */
  const write = async (op: (input: ContactInput) => Promise<CwContact>, forCreate: boolean): Promise<CwContact> => {
    for (let tries = 0; ; tries++) {
      try {
        return await op(toInput(payload, ctx.inboxId, forCreate));
      } catch (err) {
        const fields = rejectedFields(err);
        if (!fields || tries >= VALUE_FIELDS.length) throw err;
        for (const f of fields) {
          if (payload[f] === null) throw err;
          warnings.push(`${f} left off: Chatwoot refused ${JSON.stringify(payload[f])} (${(err as ApiError).message})`);
          if (desired.sources[f] !== undefined) rejected[f] = desired.sources[f];
          payload[f] = null;
        }
      }
    }
  };

  let contact: CwContact | undefined;
  let action: Action = 'updated';
  try {
    if (org.chatwootContactId) {
      try {
        contact = await write((input) => ctx.chatwoot.updateContact(org.chatwootContactId!, input), false);
      } catch (err) {
        if (!isApiError(err, 'not_found')) throw err; // deleted in Chatwoot meanwhile: look it up again
      }
    }
    if (!contact && known) {
      try {
        contact = await write((input) => ctx.chatwoot.updateContact(known.contactId, input), false);
        if (known.adopted) action = 'adopted';
      } catch (err) {
        if (!isApiError(err, 'not_found')) throw err;
      }
    }
    const lookedUp = known !== undefined;
    if (!contact && !lookedUp) {
      const existing = await ctx.chatwoot.findByIdentifier(payload.identifier);
      if (existing) contact = await write((input) => ctx.chatwoot.updateContact(existing.id, input), false);
    }
    if (!contact && !lookedUp && ctx.legacyLookup) {
      const legacy = (await ctx.chatwoot.findByCustomAttribute('pipedrive_org_id', org.id)).sort(
        (a, b) => a.id - b.id,
      )[0];
      if (legacy) {
        contact = await write((input) => ctx.chatwoot.updateContact(legacy.id, input), false);
        action = 'adopted';
      }
    }
    if (!contact) {
      try {
        contact = await write((input) => ctx.chatwoot.createContact(input), true);
        action = 'created';
      } catch (err) {
        // Another worker created it a moment ago: update that one instead of failing.
        if (!(isApiError(err, 'conflict') && err.attributes.includes('identifier'))) throw err;
        const raced = await ctx.chatwoot.findByIdentifier(payload.identifier);
        if (!raced) throw err;
        contact = await write((input) => ctx.chatwoot.updateContact(raced.id, input), false);
      }
    }
  } catch (err) {
    if (isApiError(err) && (err.type === 'rate_limit' || err.type === 'auth')) throw err;
    const type = describeError(err).kind;
    const message = (err as Error).message.slice(0, 1000);
    return {
      orgId: org.id,
      action: 'failed',
      errorType: type,
      message,
      row: { syncState: 'failed', lastAttemptAt: now, lastErrorType: type, lastError: message },
    };
  }

  const warning = warnings.length ? warnings.join('; ').slice(0, 1000) : undefined;
  return {
    orgId: org.id,
    action,
    warning,
    row: {
      chatwootContactId: contact.id,
      // The hash the next run computes for the same source (refused values left off): an
      // unchanged organization then costs no Chatwoot call, and a refused value is not sent
      // again until its Pipedrive source changes.
      contentHash: buildContact(source, people, ctx.mapping, rejected).hash,
      syncState: warning ? 'warning' : 'synced',
      lastSyncedAt: now,
      lastAttemptAt: now,
      lastErrorType: null,
      lastError: warning ?? null,
      rejectedValues: Object.keys(rejected).length ? (rejected as Record<string, string>) : null,
      contactStatus: 'Customer',
    },
  };
}

/** Chatwoot's empty values are one: null, undefined and ''. */
function sameValue(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) => (v === undefined || v === '' ? null : v);
  return String(norm(a)) === String(norm(b));
}

/** The fields of the contact a write of `p` would change (attributes named `custom_attributes.key`). */
export function changedFields(p: ContactPayload, c: CwContact): string[] {
  const out: string[] = [];
  const top: [string, unknown, unknown][] = [
    ['name', p.name, c.name],
    ['identifier', p.identifier, c.identifier],
    ['email', p.email, c.email],
    ['phone_number', p.phone_number, c.phoneNumber],
  ];
  for (const [f, want, have] of top) if (!sameValue(want, have)) out.push(f);
  for (const [k, v] of Object.entries(p.additional_attributes))
    if (!sameValue(v, c.additionalAttributes[k])) out.push(`additional_attributes.${k}`);
  for (const [k, v] of Object.entries(p.custom_attributes))
    if (!sameValue(v, c.customAttributes[k])) out.push(`custom_attributes.${k}`);
  return out;
}

/**
 * A dry run's decision for one organization whose hash changed (docs/contract.md §2): the same
 * lookups as a write (stored contact id → identifier → pipedrive_org_id → create), with reads only.
 * The result stores nothing on the organization row (the batch writes no row in a dry run).
 */
async function planOrganization(
  ctx: UpsertContext,
  org: Organization,
  payload: ContactPayload,
  known: KnownContact,
): Promise<UpsertResult> {
  const update = (c: CwContact, adopted: boolean): UpsertResult => {
    const fields = changedFields(payload, c);
    const action: Action = adopted ? 'adopted' : fields.length ? 'updated' : 'unchanged';
    return { orgId: org.id, action, row: {}, plan: { contactId: c.id, fields }, message: planMessage(c.id, fields) };
  };
  try {
    if (org.chatwootContactId) {
      const c = await ctx.chatwoot.getContact(org.chatwootContactId);
      if (c) return update(c, false);
    }
    if (known) {
      const c = known.contact ?? (await ctx.chatwoot.getContact(known.contactId));
      if (c) return update(c, known.adopted);
    }
    if (known === undefined) {
      const existing = await ctx.chatwoot.findByIdentifier(payload.identifier);
      if (existing) return update(existing, false);
      if (ctx.legacyLookup) {
        const legacy = (await ctx.chatwoot.findByCustomAttribute('pipedrive_org_id', org.id)).sort(
          (a, b) => a.id - b.id,
        )[0];
        if (legacy) return update(legacy, true);
      }
    }
    return { orgId: org.id, action: 'created', row: {}, plan: {}, message: planMessage(undefined, undefined) };
  } catch (err) {
    if (isApiError(err) && (err.type === 'rate_limit' || err.type === 'auth')) throw err;
    return {
      orgId: org.id,
      action: 'failed',
      errorType: describeError(err).kind,
      message: (err as Error).message.slice(0, 1000),
      row: {},
    };
  }
}

/** The plan as the outcome's message: JSON the CLI reads back (`manage sync --dry-run`). */
function planMessage(contactId: number | undefined, fields: string[] | undefined): string {
  return JSON.stringify({ dryRun: true, contactId, fields }).slice(0, 1000);
}
