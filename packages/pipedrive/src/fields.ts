import { ApiError } from '@pcs/http';
import type { PdContactItem, PdField, PdOrganization, PdPerson } from './schemas.js';

const HEX_KEY = /^[0-9a-f]{40}$/i;

const norm = (s: string): string => s.trim().toLowerCase();

function badData(message: string): ApiError {
  return new ApiError({ api: 'pipedrive', type: 'bad_data', message });
}

/**
 * The option id of the organization label named `labelName` (case-insensitive, trimmed), from the
 * `label_ids` field (the multi-value Labels field, preferred) or the legacy `label` field.
 * Option ids differ per account: never assume 5.
 * @throws ApiError bad_data listing the available labels when there is no such label.
 */
export function resolveCustomerLabel(fields: readonly PdField[], labelName: string): number {
  const wanted = norm(labelName);
  const labelFields = ['label_ids', 'label']
    .map((key) => fields.find((f) => f.key === key))
    .filter((f): f is PdField => f !== undefined);
  if (!labelFields.length) {
    throw badData(
      'Pipedrive organization fields have no label field (neither "label_ids" nor "label"); cannot resolve the customer label',
    );
  }
  if (!wanted) throw badData('The Pipedrive customer label name is empty');
  for (const f of labelFields) {
    const opt = f.options.find((o) => norm(o.label) === wanted);
    if (opt) return opt.id;
  }
  const available = [...new Set(labelFields.flatMap((f) => f.options.map((o) => o.label)))];
  throw badData(
    `Pipedrive organization label "${labelName.trim()}" not found; available labels: ${available.length ? available.map((l) => `"${l}"`).join(', ') : '(none)'}`,
  );
}

/**
 * The key of an organization field given its 40-hex API key (returned as is when present among
 * the fields), its exact key (e.g. `address`), or its name (case-insensitive, trimmed; custom fields
 * win over built-in ones of the same name).
 * @throws ApiError bad_data naming the available custom fields when nothing matches, or when the
 * name is ambiguous.
 */
export function resolveFieldKey(fields: readonly PdField[], nameOrKey: string): string {
  const q = nameOrKey.trim();
  const customs = fields.filter((f) => f.isCustom);
  const list = (): string => (customs.length ? customs.map((f) => `"${f.name}" (${f.key})`).join(', ') : '(none)');
  if (!q) throw badData(`The Pipedrive field name is empty; available custom fields: ${list()}`);
  if (HEX_KEY.test(q)) {
    const f = fields.find((x) => x.key.toLowerCase() === q.toLowerCase());
    if (f) return f.key;
    throw badData(`Pipedrive organization field key ${q} not found; available custom fields: ${list()}`);
  }
  const byKey = fields.find((f) => f.key === q);
  if (byKey) return byKey.key;
  const wanted = norm(q);
  const matches = fields.filter((f) => norm(f.name) === wanted);
  const customMatches = matches.filter((f) => f.isCustom);
  const pick = customMatches.length ? customMatches : matches;
  if (pick.length === 1 && pick[0]) return pick[0].key;
  if (pick.length > 1) {
    throw badData(
      `Pipedrive organization field name "${q}" is ambiguous (${pick.map((f) => f.key).join(', ')}); configure the 40-character key instead`,
    );
  }
  throw badData(`Pipedrive organization field "${q}" not found; available custom fields: ${list()}`);
}

function valueText(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const parts = v.map(valueText).filter((s): s is string => s !== undefined);
    return parts.length ? parts.join(',') : undefined;
  }
  if (typeof v === 'object' && 'value' in v) return valueText((v as { value: unknown }).value);
  return undefined;
}

/**
 * A custom field value as text: strings trimmed (empty → undefined), numbers as strings, subfield
 * objects (`{value, ...}`: address, monetary, phone) → their value, arrays (set fields) → the
 * comma-joined values.
 */
export function customFieldText(org: Pick<PdOrganization, 'customFields'>, key: string): string | undefined {
  return valueText(org.customFields[key]);
}

function primaryOf(items: readonly PdContactItem[]): string | undefined {
  const usable = items.filter((i) => i.value.trim() !== '');
  return (usable.find((i) => i.primary) ?? usable[0])?.value.trim();
}

/** The primary non-empty email, else the first non-empty one. */
export function primaryEmail(p: Pick<PdPerson, 'emails'>): string | undefined {
  return primaryOf(p.emails);
}

/** The primary non-empty phone, else the first non-empty one. */
export function primaryPhone(p: Pick<PdPerson, 'phones'>): string | undefined {
  return primaryOf(p.phones);
}
