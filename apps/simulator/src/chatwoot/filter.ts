import { isPlainObject } from '../util.js';
import type { ChatwootSim, CwContact, DisplayType } from './state.js';
import { isResolved } from './state.js';

type Kind = 'col' | 'addl' | 'date' | 'bool' | 'labels';
const EQ = ['equal_to', 'not_equal_to'];
const TEXT = [...EQ, 'contains', 'does_not_contain'];

/** lib/filters/filter_keys.yml, contacts section. */
const STANDARD: Record<string, { kind: Kind; ops: string[]; keys?: string[] }> = {
  name: { kind: 'col', ops: TEXT },
  email: { kind: 'col', ops: TEXT },
  phone_number: { kind: 'col', ops: [...TEXT, 'starts_with'] },
  identifier: { kind: 'col', ops: EQ },
  country_code: { kind: 'addl', ops: EQ, keys: ['country_code'] },
  city: { kind: 'addl', ops: TEXT, keys: ['city'] },
  company: { kind: 'addl', ops: TEXT, keys: ['company', 'company_name'] },
  referer: { kind: 'addl', ops: TEXT, keys: ['referer'] },
  labels: { kind: 'labels', ops: [...EQ, 'is_present', 'is_not_present'] },
  created_at: { kind: 'date', ops: ['is_greater_than', 'is_less_than', 'days_before'] },
  last_activity_at: { kind: 'date', ops: ['is_greater_than', 'is_less_than', 'days_before'] },
  blocked: { kind: 'bool', ops: EQ },
};

const CUSTOM_OPS: Record<DisplayType, string[]> = {
  text: [...TEXT, 'is_present', 'is_not_present'],
  link: [...TEXT, 'is_present', 'is_not_present'],
  list: [...TEXT, 'is_present', 'is_not_present'],
  number: [...EQ, 'is_greater_than', 'is_less_than', 'is_present', 'is_not_present'],
  currency: [...EQ, 'is_greater_than', 'is_less_than', 'is_present', 'is_not_present'],
  percent: [...EQ, 'is_greater_than', 'is_less_than', 'is_present', 'is_not_present'],
  date: [...EQ, 'is_greater_than', 'is_less_than', 'days_before', 'is_present', 'is_not_present'],
  checkbox: [...EQ, 'is_present', 'is_not_present'],
};

export class FilterError extends Error {
  constructor(
    message: string,
    readonly status: 422 | 500 = 422,
  ) {
    super(message);
  }
}

type Pred = (c: CwContact) => boolean;

function textOp(op: string, col: string | null, v: string): boolean {
  // SQL semantics: NULL compared to anything is not true (not even for not_equal_to)
  if (col === null || col === undefined) return false;
  const l = col.toLowerCase();
  switch (op) {
    case 'equal_to':
      return l === v;
    case 'not_equal_to':
      return l !== v;
    case 'contains':
      return l.includes(v);
    case 'does_not_contain':
      return !l.includes(v);
    case 'starts_with':
      return l.startsWith(v);
    default:
      return false;
  }
}

function presence(op: string, v: unknown): boolean | null {
  if (op === 'is_present') return v !== null && v !== undefined && v !== '';
  if (op === 'is_not_present') return v === null || v === undefined || v === '';
  return null;
}

function toStr(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function dateMs(v: unknown): number {
  if (typeof v === 'number') return v < 1e11 ? v * 1000 : v;
  return Date.parse(String(v));
}

/**
 * Contacts::FilterService: conditions combined left to right with their `query_operator`;
 * only `values[0]` is used; strings lower-cased; the base relation is resolved contacts.
 */
export function buildFilter(sim: ChatwootSim, body: unknown): Pred {
  if (!isPlainObject(body) || !Array.isArray(body.payload)) {
    // real Chatwoot raises NoMethodError on a missing `payload` wrapper
    throw new FilterError('Internal Server Error', 500);
  }
  const conds = body.payload as unknown[];
  const preds: Pred[] = [];
  const ops: string[] = [];
  const allKeys = [...Object.keys(STANDARD)].join(',');
  conds.forEach((raw, i) => {
    const c = isPlainObject(raw) ? raw : {};
    const key = typeof c.attribute_key === 'string' ? c.attribute_key : '';
    const op = typeof c.filter_operator === 'string' ? c.filter_operator : '';
    const values = Array.isArray(c.values) ? c.values : c.values === undefined || c.values === null ? [] : [c.values];
    const qop = c.query_operator;
    if (i < conds.length - 1) {
      if (typeof qop !== 'string' || !['and', 'or'].includes(qop.toLowerCase()))
        throw new FilterError('Query operator must be either "AND" or "OR".');
      ops.push(qop.toLowerCase());
    } else if (
      qop !== undefined &&
      qop !== null &&
      qop !== '' &&
      (typeof qop !== 'string' || !['and', 'or'].includes(qop.toLowerCase()))
    ) {
      throw new FilterError('Query operator must be either "AND" or "OR".');
    }
    const std = STANDARD[key];
    const def = std ? undefined : sim.findDefinition(key, 'contact_attribute');
    if (!std && !def)
      throw new FilterError(
        `Invalid attribute key - [${key}]. The key should be one of [${allKeys}] or a custom attribute defined in the account.`,
      );
    const allowed = std ? std.ops : CUSTOM_OPS[(def as NonNullable<typeof def>).attribute_display_type];
    if (!allowed.includes(op))
      throw new FilterError(`Invalid operator. The allowed operators for ${key} are [${allowed.join(',')}].`);
    const needsValue = op !== 'is_present' && op !== 'is_not_present';
    const v0: unknown = values[0];
    if (needsValue && (v0 === undefined || v0 === null || v0 === ''))
      throw new FilterError(`Invalid value. The values provided for ${key} are invalid`);
    const sv = typeof v0 === 'string' ? v0.toLowerCase() : String(v0 ?? '').toLowerCase();

    if (std) {
      switch (std.kind) {
        case 'col': {
          const col = key as 'name' | 'email' | 'phone_number' | 'identifier';
          // newer behaviour: "+#{v.delete('+')}"
          const val = key === 'phone_number' ? `+${sv.replace(/\+/g, '')}` : sv;
          preds.push((ct) => textOp(op, ct[col], val));
          break;
        }
        case 'addl': {
          const keys = std.keys ?? [key];
          preds.push((ct) => {
            const found = keys.map((k) => ct.additional_attributes[k]).find((x) => x !== undefined && x !== null);
            return textOp(op, toStr(found), sv);
          });
          break;
        }
        case 'bool':
          preds.push((ct) => (op === 'equal_to' ? ct.blocked === (sv === 'true') : ct.blocked !== (sv === 'true')));
          break;
        case 'labels':
          // the simulator stores no labels
          preds.push(() => op === 'is_not_present' || op === 'not_equal_to');
          break;
        case 'date': {
          const field = key as 'created_at' | 'last_activity_at';
          preds.push((ct) => {
            const t = ct[field];
            if (t === null) return false;
            const ms = t * 1000;
            if (op === 'days_before') return ms < Date.now() - Number(sv) * 86_400_000;
            const ref = dateMs(v0);
            return op === 'is_greater_than' ? ms > ref : ms < ref;
          });
          break;
        }
      }
    } else {
      const d = def as NonNullable<typeof def>;
      const t = d.attribute_display_type;
      preds.push((ct) => {
        const raw = ct.custom_attributes[key];
        const p = presence(op, raw);
        if (p !== null) return p;
        if (raw === null || raw === undefined) return false;
        if (t === 'number' || t === 'currency' || t === 'percent') {
          const a = Number(raw);
          const b = Number(v0);
          if (Number.isNaN(a) || Number.isNaN(b)) return false;
          if (op === 'equal_to') return a === b;
          if (op === 'not_equal_to') return a !== b;
          if (op === 'is_greater_than') return a > b;
          if (op === 'is_less_than') return a < b;
          return false;
        }
        if (t === 'date') {
          const a = dateMs(raw);
          if (op === 'days_before') return a < Date.now() - Number(sv) * 86_400_000;
          const b = dateMs(v0);
          if (op === 'equal_to')
            return new Date(a).toISOString().slice(0, 10) === new Date(b).toISOString().slice(0, 10);
          if (op === 'not_equal_to')
            return new Date(a).toISOString().slice(0, 10) !== new Date(b).toISOString().slice(0, 10);
          return op === 'is_greater_than' ? a > b : a < b;
        }
        if (t === 'checkbox') {
          const a = String(raw).toLowerCase() === 'true';
          return op === 'equal_to' ? a === (sv === 'true') : a !== (sv === 'true');
        }
        return textOp(op, toStr(raw), sv);
      });
    }
  });
  if (preds.length === 0) return (c) => isResolved(c);
  return (c) => {
    if (!isResolved(c)) return false;
    let acc = (preds[0] as Pred)(c);
    for (let i = 1; i < preds.length; i++) {
      const r = (preds[i] as Pred)(c);
      acc = ops[i - 1] === 'and' ? acc && r : acc || r;
    }
    return acc;
  };
}

/**
 * Candidate contacts for the common sync lookup (identifier/email/phone_number `equal_to`,
 * chained with OR) straight from the indexes; null when the payload has another shape.
 * The full predicate still runs over the candidates, so results are identical.
 */
export function fastCandidates(sim: ChatwootSim, body: unknown): CwContact[] | null {
  if (!isPlainObject(body) || !Array.isArray(body.payload) || body.payload.length === 0) return null;
  const conds = body.payload as unknown[];
  const out = new Map<number, CwContact>();
  for (const [i, raw] of conds.entries()) {
    if (!isPlainObject(raw)) return null;
    const key = raw.attribute_key;
    if ((key !== 'identifier' && key !== 'email' && key !== 'phone_number') || raw.filter_operator !== 'equal_to')
      return null;
    if (i < conds.length - 1 && String(raw.query_operator).toLowerCase() !== 'or') return null;
    const v0: unknown = Array.isArray(raw.values) ? raw.values[0] : raw.values;
    if (typeof v0 !== 'string' && typeof v0 !== 'number') return null;
    const v = key === 'phone_number' ? `+${String(v0).replace(/\+/g, '')}` : String(v0);
    for (const c of sim.lookup(key, v)) out.set(c.id, c);
  }
  return [...out.values()].sort((a, b) => a.id - b.id);
}
