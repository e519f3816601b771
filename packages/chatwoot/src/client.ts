import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { ApiError, DEFAULT_RETRY, createAxios, truncate, withRetry } from '@pcs/http';
import type { RequestHooks, RetryPolicy } from '@pcs/http';
import { errorFromException, errorFromResponse } from './errors.js';
import type { RequestContext } from './errors.js';
import {
  contactPageSchema,
  conversationsSchema,
  createdContactSchema,
  definitionListSchema,
  definitionSchema,
  mergedContactSchema,
  toContact,
  wrappedContactSchema,
} from './schemas.js';
import type { CwContact } from './schemas.js';

export interface ChatwootClientOptions {
  /** Origin (+ any path prefix) WITHOUT /api/v1/accounts/<id>, e.g. http://127.0.0.1:4010/chatwoot */
  baseUrl: string;
  accountId: number;
  /** Sent only as the `api_access_token` header. */
  apiKey: string;
  /** default 30 s */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  hooks?: RequestHooks;
  /**
   * `sort` of `GET contacts` (default `created_at`: immutable, so the order cannot change during a
   * scan, and new contacts land on the last page). Chatwoot versions without `created_at` sorting
   * can use `name`.
   */
  listSort?: string;
  /** Clock (ms since the epoch) for the minute-boundary 429 wait; a test seam. */
  now?: () => number;
  /** 0..1 source of the 429 jitter; a test seam. */
  random?: () => number;
}

export interface ContactInput {
  name?: string;
  /** Never sent as "" (omitted instead); null clears it. */
  identifier?: string | null;
  /** null (or "") clears it. */
  email?: string | null;
  /** null (or "") clears it. Must be strict E.164. */
  phone_number?: string | null;
  additional_attributes?: Record<string, unknown>;
  custom_attributes?: Record<string, unknown>;
  inbox_id?: number;
}

export type FilterOperator =
  | 'equal_to'
  | 'not_equal_to'
  | 'contains'
  | 'does_not_contain'
  | 'starts_with'
  | 'is_present'
  | 'is_not_present'
  | 'is_greater_than'
  | 'is_less_than';

export interface FilterCondition {
  attributeKey: string;
  operator: FilterOperator;
  value: string | number;
  /** How this condition joins the NEXT one (default AND); ignored on the last. */
  queryOperator?: 'AND' | 'OR';
}

export interface AttributeDefinitionInput {
  key: string;
  displayName: string;
  displayType: 'text' | 'number' | 'link' | 'list' | 'date' | 'checkbox';
  description?: string;
  values?: string[];
}

export interface AttributeDefinition {
  id: number;
  key: string;
  displayType: string;
  model: string;
}

export interface ChatwootCounters {
  /** Every attempt, retries included. */
  total: number;
  /** `METHOD route`, e.g. `GET contacts/:id`. */
  byRoute: Record<string, number>;
  /** POST/PUT/PATCH/DELETE attempts, except `POST contacts/filter`. */
  writes: number;
}

/** Chatwoot's fixed page size (no per_page). */
export const CHATWOOT_PAGE_SIZE = 15;

/** The value a phone_number filter wants: digits only, no leading `+` (old versions prepend one). */
export function toE164ForFilter(phone: string): string {
  return phone.replace(/\D/g, '');
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Call<S extends z.ZodType> {
  method: Method;
  /** Route template, e.g. `contacts/:id`. */
  route: string;
  /** Relative path, e.g. `contacts/5`. */
  path: string;
  what: string;
  schema: S;
  params?: Record<string, string | number | boolean>;
  data?: unknown;
}

/** DELETE answers 200 with an empty body (or 204): any body is fine. */
const anyBody = z.unknown();

function sanitizeInput(input: ContactInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (input.name !== undefined) out.name = input.name;
  // identifier "" is not nil-ified by Chatwoot and would clash on the unique index: never send it
  if (input.identifier === null) out.identifier = null;
  else if (input.identifier !== undefined && input.identifier !== '') out.identifier = input.identifier;
  if (input.email !== undefined) out.email = input.email === '' ? null : input.email;
  if (input.phone_number !== undefined) out.phone_number = input.phone_number === '' ? null : input.phone_number;
  if (input.additional_attributes !== undefined) out.additional_attributes = input.additional_attributes;
  if (input.custom_attributes !== undefined) out.custom_attributes = input.custom_attributes;
  if (input.inbox_id !== undefined) out.inbox_id = input.inbox_id;
  return out;
}

function sameValue(actual: unknown, wanted: string | number): boolean {
  if (actual === null || actual === undefined) return false;
  if (typeof wanted === 'number') {
    if (typeof actual === 'number') return actual === wanted;
    if (typeof actual === 'string' && actual.trim() !== '') return Number(actual) === wanted;
    return false;
  }
  if (typeof actual === 'string') return actual === wanted;
  if (typeof actual === 'number' || typeof actual === 'boolean') return String(actual) === wanted;
  return false;
}

/** Chatwoot Application API (contacts, conversations of a contact, contact attribute definitions). */
export class ChatwootClient {
  readonly counters: ChatwootCounters = { total: 0, byRoute: {}, writes: 0 };
  private readonly http: AxiosInstance;
  private readonly policy: RetryPolicy;
  private readonly hooks: RequestHooks;
  private readonly accountId: number;
  private readonly accountPath: string;
  private readonly listSort: string;
  private readonly scrub: (text: string) => string;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(opts: ChatwootClientOptions) {
    if (!Number.isInteger(opts.accountId) || opts.accountId <= 0)
      throw new TypeError('ChatwootClient: accountId must be a positive integer');
    if (!opts.apiKey) throw new TypeError('ChatwootClient: apiKey is required');
    this.accountId = opts.accountId;
    this.accountPath = `/api/v1/accounts/${opts.accountId}/`;
    const base = `${opts.baseUrl.replace(/\/+$/, '')}${this.accountPath}`;
    this.http = createAxios(
      base,
      { api_access_token: opts.apiKey, 'content-type': 'application/json' },
      opts.timeoutMs ?? 30_000,
      { api: 'chatwoot' },
    );
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.hooks = opts.hooks ?? {};
    this.listSort = opts.listSort ?? 'created_at';
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const key = opts.apiKey;
    this.scrub = (text) => (key.length >= 4 ? text.split(key).join('[redacted]') : text);
  }

  // ---------- plumbing ----------

  private count(method: Method, route: string): void {
    const k = `${method} ${route}`;
    this.counters.total += 1;
    this.counters.byRoute[k] = (this.counters.byRoute[k] ?? 0) + 1;
    if (method !== 'GET' && !(method === 'POST' && route === 'contacts/filter')) this.counters.writes += 1;
  }

  private async call<S extends z.ZodType>(c: Call<S>): Promise<z.output<S>> {
    const ctx: RequestContext = {
      method: c.method,
      route: c.route,
      path: `${this.accountPath}${c.path}`,
      accountId: this.accountId,
      what: c.what,
      scrub: this.scrub,
      now: this.now,
      random: this.random,
    };
    return withRetry('chatwoot', this.policy, this.hooks, async () => {
      this.count(c.method, c.route);
      let res;
      try {
        res = await this.http.request({ method: c.method, url: c.path, params: c.params, data: c.data });
      } catch (err) {
        throw errorFromException(err, ctx);
      }
      if (res.status < 200 || res.status >= 300)
        throw errorFromResponse(res.status, res.data, res.headers as Record<string, unknown>, ctx);
      const parsed = c.schema.safeParse(res.data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
        const excerpt = typeof res.data === 'string' ? res.data : JSON.stringify(res.data ?? null);
        throw new ApiError({
          api: 'chatwoot',
          type: 'bad_data',
          message: this.scrub(
            `Chatwoot ${c.method} ${c.route} answered ${res.status} with an unexpected body (${where})`,
          ),
          status: res.status,
          method: c.method,
          path: ctx.path,
          body: this.scrub(truncate(excerpt ?? '')),
        });
      }
      return parsed.data as z.output<S>;
    });
  }

  // ---------- filter ----------

  /** POST contacts/filter (body wrapped in {payload}); one page of 15. Conditions chained left to right; last has query_operator null. */
  async filterContacts(conditions: FilterCondition[], page = 1): Promise<{ contacts: CwContact[]; count: number }> {
    if (conditions.length === 0) {
      throw new ApiError({
        api: 'chatwoot',
        type: 'bad_data',
        message: 'Chatwoot filter needs at least one condition',
        method: 'POST',
        path: `${this.accountPath}contacts/filter`,
      });
    }
    const payload = conditions.map((c, i) => ({
      attribute_key: c.attributeKey,
      filter_operator: c.operator,
      values: [c.attributeKey === 'phone_number' && typeof c.value === 'string' ? toE164ForFilter(c.value) : c.value],
      query_operator: i === conditions.length - 1 ? null : (c.queryOperator ?? 'AND'),
    }));
    const body = await this.call({
      method: 'POST',
      route: 'contacts/filter',
      path: 'contacts/filter',
      what: `account ${this.accountId}`,
      params: { page },
      data: { payload },
      schema: contactPageSchema,
    });
    return { contacts: body.payload.map(toContact), count: body.meta.count };
  }

  /** Every page of a filter (stops when a page has < 15 or count reached); de-duplicates by id. */
  async filterAllContacts(conditions: FilterCondition[]): Promise<CwContact[]> {
    const byId = new Map<number, CwContact>();
    let seen = 0;
    for (let page = 1; ; page++) {
      const { contacts, count } = await this.filterContacts(conditions, page);
      for (const c of contacts) if (!byId.has(c.id)) byId.set(c.id, c);
      seen += contacts.length;
      // the page cap guards against a server that keeps answering full pages
      if (contacts.length < CHATWOOT_PAGE_SIZE || seen >= count || page > Math.ceil(count / CHATWOOT_PAGE_SIZE) + 1)
        break;
    }
    return [...byId.values()];
  }

  /**
   * Exact match on identifier: filter `identifier equal_to`, then keep only the contact whose identifier
   * === the given one (the filter lower-cases; identifiers are case-sensitive). Never the substring search.
   */
  async findByIdentifier(identifier: string): Promise<CwContact | null> {
    if (identifier === '') return null;
    const hits = await this.filterAllContacts([
      { attributeKey: 'identifier', operator: 'equal_to', value: identifier },
    ]);
    return hits.find((c) => c.identifier === identifier) ?? null;
  }

  /** Contacts whose custom attribute `key` equals `value` (numbers compared as numbers), all pages, exact check client-side. */
  async findByCustomAttribute(key: string, value: string | number): Promise<CwContact[]> {
    const hits = await this.filterAllContacts([{ attributeKey: key, operator: 'equal_to', value }]);
    return hits.filter((c) => sameValue(c.customAttributes[key], value));
  }

  // ---------- contacts ----------

  /** GET contacts/:id; 404 → null. */
  async getContact(id: number): Promise<CwContact | null> {
    try {
      const raw = await this.call({
        method: 'GET',
        route: 'contacts/:id',
        path: `contacts/${id}`,
        what: `contact ${id}`,
        schema: wrappedContactSchema,
      });
      return toContact(raw);
    } catch (err) {
      if (err instanceof ApiError && err.type === 'not_found') return null;
      throw err;
    }
  }

  /** POST contacts; returns payload.contact. */
  async createContact(input: ContactInput): Promise<CwContact> {
    const raw = await this.call({
      method: 'POST',
      route: 'contacts',
      path: 'contacts',
      what: `account ${this.accountId}`,
      data: sanitizeInput(input),
      schema: createdContactSchema,
    });
    return toContact(raw);
  }

  /** PUT contacts/:id; custom/additional attributes are shallow-merged by Chatwoot. */
  async updateContact(id: number, input: ContactInput): Promise<CwContact> {
    const data = sanitizeInput(input);
    delete data.inbox_id;
    const raw = await this.call({
      method: 'PUT',
      route: 'contacts/:id',
      path: `contacts/${id}`,
      what: `contact ${id}`,
      data,
      schema: wrappedContactSchema,
    });
    return toContact(raw);
  }

  /** DELETE contacts/:id (admin token; 422 while the contact is online, see isOnlineConflict). */
  async deleteContact(id: number): Promise<void> {
    await this.call({
      method: 'DELETE',
      route: 'contacts/:id',
      path: `contacts/${id}`,
      what: `contact ${id}`,
      schema: anyBody,
    });
  }

  /** POST actions/contact_merge: the mergee is deleted, its conversations move to the base. */
  async mergeContacts(baseId: number, mergeeId: number): Promise<CwContact> {
    const raw = await this.call({
      method: 'POST',
      route: 'actions/contact_merge',
      path: 'actions/contact_merge',
      what: `contact ${baseId} or ${mergeeId}`,
      data: { base_contact_id: baseId, mergee_contact_id: mergeeId },
      schema: mergedContactSchema,
    });
    return toContact(raw);
  }

  /** POST contacts/:id/destroy_custom_attributes. */
  async removeCustomAttributes(id: number, keys: string[]): Promise<CwContact> {
    const raw = await this.call({
      method: 'POST',
      route: 'contacts/:id/destroy_custom_attributes',
      path: `contacts/${id}/destroy_custom_attributes`,
      what: `contact ${id}`,
      data: { custom_attributes: keys },
      schema: wrappedContactSchema,
    });
    return toContact(raw);
  }

  /** GET contacts with an explicit sort (default created_at); only resolved contacts (email, phone or identifier). */
  async listContacts(page = 1): Promise<{ contacts: CwContact[]; count: number }> {
    const body = await this.call({
      method: 'GET',
      route: 'contacts',
      path: 'contacts',
      what: `account ${this.accountId}`,
      params: { page, sort: this.listSort, include_contact_inboxes: false },
      schema: contactPageSchema,
    });
    return { contacts: body.payload.map(toContact), count: body.meta.count };
  }

  /** meta.count of page 1 (cheap, for health checks). */
  async contactCount(): Promise<number> {
    return (await this.listContacts(1)).count;
  }

  /** GET contacts/:id/conversations. */
  async conversations(contactId: number): Promise<{ id: number; status: string }[]> {
    const body = await this.call({
      method: 'GET',
      route: 'contacts/:id/conversations',
      path: `contacts/${contactId}/conversations`,
      what: `contact ${contactId}`,
      schema: conversationsSchema,
    });
    return body.payload.map((c) => ({ id: c.id, status: c.status }));
  }

  // ---------- custom attribute definitions ----------

  /** GET custom_attribute_definitions?attribute_model=contact_attribute (bare array). */
  async listAttributeDefinitions(model: 'contact_attribute' = 'contact_attribute'): Promise<AttributeDefinition[]> {
    const list = await this.call({
      method: 'GET',
      route: 'custom_attribute_definitions',
      path: 'custom_attribute_definitions',
      what: `account ${this.accountId}`,
      params: { attribute_model: model },
      schema: definitionListSchema,
    });
    return list
      .filter((d) => d.attribute_model === model)
      .map((d) => ({
        id: d.id,
        key: d.attribute_key,
        displayType: d.attribute_display_type,
        model: d.attribute_model,
      }));
  }

  /** POST custom_attribute_definitions (admin token), body wrapped in custom_attribute_definition. */
  async createAttributeDefinition(def: AttributeDefinitionInput): Promise<{ id: number; key: string }> {
    const d = await this.call({
      method: 'POST',
      route: 'custom_attribute_definitions',
      path: 'custom_attribute_definitions',
      what: `account ${this.accountId}`,
      data: {
        custom_attribute_definition: {
          attribute_display_name: def.displayName,
          attribute_key: def.key,
          attribute_model: 'contact_attribute',
          attribute_display_type: def.displayType,
          attribute_description: def.description ?? null,
          attribute_values: def.values ?? [],
        },
      },
      schema: definitionSchema,
    });
    return { id: d.id, key: d.attribute_key };
  }

  /** Creates the missing contact attribute definitions among `defs` (compares keys), once; returns the keys created. */
  async ensureAttributeDefinitions(defs: AttributeDefinitionInput[]): Promise<string[]> {
    const existing = new Set((await this.listAttributeDefinitions('contact_attribute')).map((d) => d.key));
    const created: string[] = [];
    for (const def of defs) {
      if (existing.has(def.key)) continue;
      try {
        await this.createAttributeDefinition(def);
        created.push(def.key);
      } catch (err) {
        // another worker created it between our list and our create
        if (!(err instanceof ApiError && err.type === 'conflict' && err.attributes.includes('attribute_key')))
          throw err;
      }
      existing.add(def.key);
    }
    return created;
  }
}
