import { createHash } from 'node:crypto';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/**
 * What lands in Chatwoot for one organization (docs/contract.md §5), computed from the mirror of
 * Pipedrive in the database. Pure: no I/O, so it is tested on its own and hashed to skip writes.
 */

export const IDENTIFIER_PREFIX = 'pipedrive:org:';
export const STATUS_CUSTOMER = 'Customer';
export const STATUS_FORMER = 'Former customer';

export function identifierOf(orgId: number): string {
  return `${IDENTIFIER_PREFIX}${orgId}`;
}

export function orgIdOfIdentifier(identifier: string | null | undefined): number | undefined {
  if (!identifier?.startsWith(IDENTIFIER_PREFIX)) return undefined;
  const n = Number(identifier.slice(IDENTIFIER_PREFIX.length));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export interface OrgSource {
  id: number;
  name: string;
  city: string | null;
  country: string | null;
  customFields: Record<string, unknown> | null;
}

export interface PersonSource {
  id: number;
  emails: { value: string; primary: boolean }[];
  phones: { value: string; primary: boolean }[];
}

export interface MappingContext {
  /** Key of the org custom field holding the main phone, when configured. */
  phoneFieldKey?: string;
  /** Key of the org field copied as support_link, when configured. */
  supportLinkFieldKey?: string;
  defaultCountry?: { region?: string; callingCode?: string };
  /** Origin of the Pipedrive web app, for pipedrive_url. */
  pipedriveWebOrigin: string;
}

export interface ContactPayload {
  identifier: string;
  name: string;
  email: string | null;
  phone_number: string | null;
  additional_attributes: { company_name: string; city: string | null; country: string | null };
  custom_attributes: {
    pipedrive_org_id: number;
    status: string;
    type: 'organization';
    pipedrive_url: string;
    support_link?: string;
  };
}

export type ValueField = 'email' | 'phone_number';

export interface DesiredContact {
  payload: ContactPayload;
  /** Hash of the payload: unchanged since the last successful write → no Chatwoot call. */
  hash: string;
  /** Values left off, with why (invalid, or rejected earlier by Chatwoot). */
  warnings: string[];
  /** The Pipedrive values behind email and phone, to remember what Chatwoot rejected. */
  sources: Partial<Record<ValueField, string>>;
}

const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;

function firstPrimary(items: { value: string; primary: boolean }[]): string | undefined {
  const present = items.map((i) => ({ ...i, value: i.value.trim() })).filter((i) => i.value !== '');
  return (present.find((i) => i.primary) ?? present[0])?.value;
}

/** The primary value of the first person (lowest id) that has one. */
function fromPersons(
  persons: PersonSource[],
  pick: (p: PersonSource) => { value: string; primary: boolean }[],
): string | undefined {
  for (const p of [...persons].sort((a, b) => a.id - b.id)) {
    const v = firstPrimary(pick(p));
    if (v) return v;
  }
  return undefined;
}

/** A custom field's value as text: strings, numbers, and the `{ value }` forms of phone/address/monetary fields. */
export function fieldText(fields: Record<string, unknown> | null, key: string | undefined): string | undefined {
  if (!fields || !key) return undefined;
  const v = fields[key];
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (v && typeof v === 'object' && 'value' in v) return fieldText({ v: (v as { value: unknown }).value }, 'v');
  return undefined;
}

/** E.164 for Chatwoot, using the default country for numbers written without one; undefined when not a valid number. */
export function normalizePhone(raw: string, defaultCountry?: MappingContext['defaultCountry']): string | undefined {
  const text = raw.trim();
  if (!text) return undefined;
  const opts: { defaultCountry?: CountryCode; defaultCallingCode?: string } = {};
  if (defaultCountry?.region) opts.defaultCountry = defaultCountry.region as CountryCode;
  else if (defaultCountry?.callingCode) opts.defaultCallingCode = defaultCountry.callingCode.replace(/^\+/, '');
  const parsed = parsePhoneNumberFromString(text.startsWith('00') ? `+${text.slice(2)}` : text, opts);
  if (!parsed || !parsed.isValid()) return undefined;
  return parsed.number;
}

export function normalizeEmail(raw: string): string | undefined {
  const e = raw.trim().toLowerCase();
  return EMAIL_RE.test(e) ? e : undefined;
}

export function pipedriveWebOrigin(baseUrl: string): string {
  const u = new URL(baseUrl);
  // api.pipedrive.com serves the API only; the web app of every company answers on app.pipedrive.com.
  if (u.hostname === 'api.pipedrive.com') return 'https://app.pipedrive.com';
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/**
 * Builds the contact for one organization. `rejected` holds source values Chatwoot refused
 * earlier: while the Pipedrive value is the same, it is left off instead of being sent again.
 */
export function buildContact(
  org: OrgSource,
  persons: PersonSource[],
  ctx: MappingContext,
  rejected: Partial<Record<ValueField, string>> | null = null,
): DesiredContact {
  const warnings: string[] = [];
  const sources: DesiredContact['sources'] = {};
  const name = org.name.trim() || `Organization ${org.id}`;

  const rawPhone = fieldText(org.customFields, ctx.phoneFieldKey) ?? fromPersons(persons, (p) => p.phones);
  let phone: string | null = null;
  if (rawPhone) {
    sources.phone_number = rawPhone;
    if (rejected?.phone_number === rawPhone)
      warnings.push(`phone_number left off: Chatwoot rejected ${JSON.stringify(rawPhone)} earlier`);
    else {
      phone = normalizePhone(rawPhone, ctx.defaultCountry) ?? null;
      if (!phone) warnings.push(`phone_number left off: ${JSON.stringify(rawPhone)} is not a valid phone number`);
    }
  }

  const rawEmail = fromPersons(persons, (p) => p.emails);
  let email: string | null = null;
  if (rawEmail) {
    sources.email = rawEmail;
    if (rejected?.email === rawEmail)
      warnings.push(`email left off: Chatwoot rejected ${JSON.stringify(rawEmail)} earlier`);
    else {
      email = normalizeEmail(rawEmail) ?? null;
      if (!email) warnings.push(`email left off: ${JSON.stringify(rawEmail)} is not a valid email address`);
    }
  }

  const supportLink = fieldText(org.customFields, ctx.supportLinkFieldKey);
  const payload: ContactPayload = {
    identifier: identifierOf(org.id),
    name,
    email,
    phone_number: phone,
    additional_attributes: { company_name: name, city: org.city?.trim() || null, country: org.country?.trim() || null },
    custom_attributes: {
      pipedrive_org_id: org.id,
      status: STATUS_CUSTOMER,
      type: 'organization',
      pipedrive_url: `${ctx.pipedriveWebOrigin}/organization/${org.id}`,
      ...(supportLink ? { support_link: supportLink } : {}),
    },
  };
  return { payload, hash: hashPayload(payload), warnings, sources };
}

/** sha256 of the payload as canonical JSON (keys sorted), hex. */
export function hashPayload(payload: unknown): string {
  return createHash('sha256').update(canonical(payload)).digest('hex');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}
