import { z } from 'zod';

/** A Chatwoot contact as our code sees it. */
export interface CwContact {
  id: number;
  name: string | null;
  email: string | null;
  phoneNumber: string | null;
  identifier: string | null;
  additionalAttributes: Record<string, unknown>;
  customAttributes: Record<string, unknown>;
  createdAt: Date | null;
  lastActivityAt: Date | null;
}

const attrs = z.record(z.string(), z.unknown()).nullish();
const optText = z.string().nullish();
/** Unix seconds (upstream); tolerate a numeric string or an ISO date; omitted when null. */
const timestamp = z.union([z.number(), z.string()]).nullish();

const id = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

export const rawContactSchema = z.object({
  id,
  name: optText,
  email: optText,
  phone_number: optText,
  identifier: optText,
  additional_attributes: attrs,
  custom_attributes: attrs,
  created_at: timestamp,
  last_activity_at: timestamp,
});
export type RawContact = z.infer<typeof rawContactSchema>;

function toDate(v: number | string | null | undefined): Date | null {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  const d = Number.isNaN(n) ? new Date(v) : new Date(n * 1000);
  return Number.isNaN(d.getTime()) ? null : d;
}

const blankToNull = (v: string | null | undefined): string | null =>
  v === undefined || v === null || v === '' ? null : v;

export function toContact(raw: RawContact): CwContact {
  return {
    id: raw.id,
    name: blankToNull(raw.name),
    email: blankToNull(raw.email),
    phoneNumber: blankToNull(raw.phone_number),
    identifier: blankToNull(raw.identifier),
    additionalAttributes: raw.additional_attributes ?? {},
    customAttributes: raw.custom_attributes ?? {},
    createdAt: toDate(raw.created_at),
    lastActivityAt: toDate(raw.last_activity_at),
  };
}

const count = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);

/** List and filter: `{meta:{count, current_page}, payload:[contact]}`; current_page is "2" or 1. */
export const contactPageSchema = z.object({
  meta: z.object({ count, current_page: z.union([z.number(), z.string()]).nullish() }),
  payload: z.array(rawContactSchema),
});

/** Show / update / destroy_custom_attributes: `{payload: contact}` (also accepts a bare contact). */
export const wrappedContactSchema = z.union([
  z.object({ payload: rawContactSchema }).transform((b) => b.payload),
  rawContactSchema,
]);

/** Create: `{payload: {contact, contact_inbox}}` (also accepts `{payload: contact}`). */
export const createdContactSchema = z.union([
  z.object({ payload: z.object({ contact: rawContactSchema }) }).transform((b) => b.payload.contact),
  z.object({ payload: rawContactSchema }).transform((b) => b.payload),
]);

/** Merge: the base contact (bare upstream; also accepts `{payload: contact}`). */
export const mergedContactSchema = z.union([
  rawContactSchema,
  z.object({ payload: rawContactSchema }).transform((b) => b.payload),
]);

export const conversationsSchema = z.object({
  payload: z.array(z.object({ id, status: z.string() })),
});

const DISPLAY_TYPES = ['text', 'number', 'currency', 'percent', 'link', 'date', 'list', 'checkbox'] as const;
const MODELS = ['conversation_attribute', 'contact_attribute', 'company_attribute'] as const;

/** Rails enums come as names; old serializers may send the integer. */
const enumName = (names: readonly string[]) =>
  z.union([z.string(), z.number().int()]).transform((v) => (typeof v === 'number' ? (names[v] ?? String(v)) : v));

export const definitionSchema = z.object({
  id,
  attribute_key: z.string(),
  attribute_display_type: enumName(DISPLAY_TYPES),
  attribute_model: enumName(MODELS),
});

export const definitionListSchema = z.array(definitionSchema);
