import { z } from 'zod';

/**
 * Domain types (camelCase) and the zod schemas that parse the API's snake_case JSON into them.
 *
 * Policy for malformed data (decided here, applied everywhere):
 * - A malformed envelope (`success !== true`, `data` not an array/object, a bad `next_cursor`)
 *   throws `bad_data`.
 * - A malformed record (organization or person) throws `bad_data` for the whole page, naming the
 *   item and the offending attribute. Nothing is ever dropped silently: a sync that skipped a
 *   record would treat it as gone.
 * - Only attributes that cannot identify or date a record are lenient: missing `label_ids` → [],
 *   `custom_fields` → {}, `owner_id`/`add_time`/`address`/`org_id` → null, `is_deleted` → false,
 *   missing `emails`/`phones` → []. Required: `id` (positive integer), `name` (string; null → ""),
 *   `update_time` (a parseable date).
 * - Person email/phone items whose value is empty or whitespace are placeholders ("no email")
 *   and are removed; this is not data loss.
 * - Field metadata (`/v1/organizationFields`) is lenient about options: an option id given as a
 *   numeric string becomes a number, an option without a numeric id is skipped (it can be
 *   neither a label id nor an enum value).
 */

export interface PdAddress {
  value: string | null;
  streetNumber: string | null;
  route: string | null;
  sublocality: string | null;
  locality: string | null;
  adminAreaLevel1: string | null;
  adminAreaLevel2: string | null;
  country: string | null;
  postalCode: string | null;
  formattedAddress: string | null;
  /** SDK model only (`subpremise`); null when absent. */
  subpremise: string | null;
  /** Only when the API sends `country_code` in the address. */
  countryCode?: string;
}

export interface PdOrganization {
  id: number;
  name: string;
  updateTime: Date;
  addTime: Date | null;
  isDeleted: boolean;
  labelIds: number[];
  ownerId: number | null;
  address: PdAddress | null;
  /** 40-hex key → raw v2 value (string, number, number[], `{value, ...}` subfield objects, null). */
  customFields: Record<string, unknown>;
}

export interface PdContactItem {
  /** Trimmed, never empty. */
  value: string;
  primary: boolean;
  label: string | null;
}

export interface PdPerson {
  id: number;
  orgId: number | null;
  name: string;
  updateTime: Date;
  isDeleted: boolean;
  emails: PdContactItem[];
  phones: PdContactItem[];
}

export interface PdFieldOption {
  id: number;
  label: string;
}

export interface PdField {
  id: number;
  key: string;
  name: string;
  fieldType: string;
  options: PdFieldOption[];
  /** `edit_flag` (v1): a user-defined custom field. */
  isCustom: boolean;
}

export interface PdUser {
  id: number;
  name: string;
  email?: string;
  companyDomain?: string;
}

// ---------- primitives ----------

const id = z.number().int().positive();
const nullableId = z
  .number()
  .int()
  .nullish()
  .transform((v) => v ?? null);

/** RFC 3339 (v2) or `YYYY-MM-DD HH:MM:SS` UTC (v1). */
export function parseApiDate(s: string): Date | null {
  const v1 = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s) ? `${s.replace(' ', 'T')}Z` : s;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v1)) return null;
  const t = Date.parse(v1);
  return Number.isNaN(t) ? null : new Date(t);
}

const date = z.string().transform((s, ctx) => {
  const d = parseApiDate(s);
  if (!d) {
    ctx.addIssue({ code: 'custom', message: 'Invalid date-time (expected RFC 3339)' });
    return z.NEVER;
  }
  return d;
});

const optionalDate = z
  .union([date, z.literal('')])
  .nullish()
  .transform((v) => (v instanceof Date ? v : null));

const text = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? null : String(v)));

// ---------- organizations ----------

const addressObject = z.object({
  value: text,
  street_number: text,
  route: text,
  sublocality: text,
  locality: text,
  admin_area_level_1: text,
  admin_area_level_2: text,
  country: text,
  postal_code: text,
  formatted_address: text,
  subpremise: text,
  country_code: text,
});

function emptyAddress(): PdAddress {
  return {
    value: null,
    streetNumber: null,
    route: null,
    sublocality: null,
    locality: null,
    adminAreaLevel1: null,
    adminAreaLevel2: null,
    country: null,
    postalCode: null,
    formattedAddress: null,
    subpremise: null,
  };
}

const address = z
  .union([addressObject, z.string()])
  .nullish()
  .transform((a): PdAddress | null => {
    if (a === null || a === undefined) return null;
    if (typeof a === 'string') return a.trim() ? { ...emptyAddress(), value: a, formattedAddress: a } : null;
    const out: PdAddress = {
      value: a.value,
      streetNumber: a.street_number,
      route: a.route,
      sublocality: a.sublocality,
      locality: a.locality,
      adminAreaLevel1: a.admin_area_level_1,
      adminAreaLevel2: a.admin_area_level_2,
      country: a.country,
      postalCode: a.postal_code,
      formattedAddress: a.formatted_address,
      subpremise: a.subpremise,
    };
    if (a.country_code) out.countryCode = a.country_code;
    return out;
  });

export const organizationSchema = z
  .object({
    id,
    name: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    owner_id: nullableId,
    add_time: optionalDate,
    update_time: date,
    is_deleted: z
      .boolean()
      .nullish()
      .transform((v) => v ?? false),
    label_ids: z
      .array(z.number().int())
      .nullish()
      .transform((v) => v ?? []),
    address,
    custom_fields: z
      .record(z.string(), z.unknown())
      .nullish()
      .transform((v) => v ?? {}),
  })
  .transform((o): PdOrganization => ({
    id: o.id,
    name: o.name,
    updateTime: o.update_time,
    addTime: o.add_time,
    isDeleted: o.is_deleted,
    labelIds: o.label_ids,
    ownerId: o.owner_id,
    address: o.address,
    customFields: o.custom_fields,
  }));

// ---------- persons ----------

const contactItems = z
  .array(
    z.object({
      value: z.string().nullish(),
      primary: z.boolean().nullish(),
      label: z.string().nullish(),
    }),
  )
  .nullish()
  .transform((items): PdContactItem[] =>
    (items ?? []).flatMap((i) => {
      const value = (i.value ?? '').trim();
      return value ? [{ value, primary: i.primary === true, label: i.label ?? null }] : [];
    }),
  );

export const personSchema = z
  .object({
    id,
    org_id: nullableId,
    name: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    update_time: date,
    is_deleted: z
      .boolean()
      .nullish()
      .transform((v) => v ?? false),
    emails: contactItems,
    phones: contactItems,
  })
  .transform((p): PdPerson => ({
    id: p.id,
    orgId: p.org_id,
    name: p.name,
    updateTime: p.update_time,
    isDeleted: p.is_deleted,
    emails: p.emails,
    phones: p.phones,
  }));

// ---------- fields ----------

const optionId = z.union([z.number(), z.string()]).transform((v) => {
  const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  return Number.isInteger(n) ? n : null;
});

export const fieldSchema = z
  .object({
    id: z.number().int(),
    key: z.string().min(1),
    name: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    field_type: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    edit_flag: z.boolean().nullish(),
    options: z
      .array(z.object({ id: optionId.nullish(), label: z.union([z.string(), z.number()]).nullish() }))
      .nullish()
      .transform((opts): PdFieldOption[] =>
        (opts ?? []).flatMap((o) =>
          typeof o.id === 'number'
            ? [{ id: o.id, label: o.label === null || o.label === undefined ? '' : String(o.label) }]
            : [],
        ),
      ),
  })
  .transform((f): PdField => ({
    id: f.id,
    key: f.key,
    name: f.name,
    fieldType: f.field_type,
    options: f.options,
    isCustom: f.edit_flag ?? /^[0-9a-f]{40}$/i.test(f.key),
  }));

export const userSchema = z
  .object({
    id,
    name: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    email: z.string().nullish(),
    company_domain: z.string().nullish(),
  })
  .transform((u): PdUser => {
    const out: PdUser = { id: u.id, name: u.name };
    if (u.email) out.email = u.email;
    if (u.company_domain) out.companyDomain = u.company_domain;
    return out;
  });

// ---------- envelopes ----------

export const listEnvelope = z.object({
  success: z.literal(true),
  data: z
    .array(z.unknown())
    .nullable()
    .transform((v) => v ?? []),
  additional_data: z.object({ next_cursor: z.string().nullish() }).nullish(),
});

export const itemEnvelope = z.object({
  success: z.literal(true),
  data: z.record(z.string(), z.unknown()),
});

const pagination = z.object({
  start: z.number().nullish(),
  limit: z.number().nullish(),
  more_items_in_collection: z.boolean().nullish(),
  next_start: z.number().nullish(),
});

export const fieldsEnvelope = z.object({
  success: z.literal(true),
  data: z
    .array(z.unknown())
    .nullable()
    .transform((v) => v ?? []),
  // the spec example nests `pagination`; the spec schema puts its fields flat in additional_data
  additional_data: pagination.extend({ pagination: pagination.nullish() }).nullish(),
});
