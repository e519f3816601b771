import type { AxiosInstance } from 'axios';
import type { z } from 'zod';
import { ApiError, createAxios, DEFAULT_RETRY, withRetry } from '@pcs/http';
import type { RequestCounters, RequestHooks, RetryPolicy } from '@pcs/http';
import { badData, errorFromException, errorFromResponse } from './errors.js';
import { BurstPacer } from './pacer.js';
import type { RequestContext } from './errors.js';
import {
  fieldSchema,
  fieldsEnvelope,
  itemEnvelope,
  listEnvelope,
  organizationSchema,
  personSchema,
  userSchema,
} from './schemas.js';
import type { PdField, PdOrganization, PdPerson, PdUser } from './schemas.js';

export interface PipedriveClientOptions {
  /** Company origin, without /v1 or /api/v2, e.g. `https://acme.pipedrive.com` or `http://127.0.0.1:4010/pipedrive`. */
  baseUrl: string;
  /** Sent only as the `x-api-token` header, never in a query string. */
  apiKey: string;
  /** Per request attempt; default 30 s. */
  timeoutMs?: number;
  /** Merged over DEFAULT_RETRY from @pcs/http. */
  retry?: Partial<RetryPolicy>;
  hooks?: RequestHooks;
  /**
   * Keep this client's requests within the token's burst limit learned from `x-ratelimit-limit`
   * (see BurstPacer); default true. False sends every request at once, 429s answered by the retry policy.
   */
  pace?: boolean;
}

export interface ListOrganizationsParams {
  cursor?: string;
  /** 1..500 (clamped); default 500. */
  limit?: number;
  /** `updated_since` (update_time >= value, second resolution). */
  updatedSince?: Date;
  /** `updated_until` (update_time < value, second resolution). */
  updatedUntil?: Date;
  filterId?: number;
  /** At most 100 (checked before sending); an empty array lists nothing without a request. */
  ids?: number[];
  ownerId?: number;
  sortBy?: 'id' | 'update_time';
  sortDirection?: 'asc' | 'desc';
}

export interface ListPersonsParams {
  orgId?: number;
  /** At most 100 (checked before sending); an empty array lists nothing without a request. */
  ids?: number[];
  updatedSince?: Date;
  updatedUntil?: Date;
  cursor?: string;
  /** 1..500 (clamped); default 500. */
  limit?: number;
}

export interface RequestOptions {
  /**
   * A request that may wait: within the burst limit it is sent only when no other request of this
   * client waits for a slot (e.g. the organizations listing, while the persons listing goes first).
   */
  background?: boolean;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const MAX_PAGE_SIZE = 500;
export const MAX_IDS = 100;
const FIELDS_PAGE_SIZE = 500;
const MAX_FIELD_PAGES = 100;

type Query = Record<string, string | number>;

/** RFC 3339 with seconds and `Z`, at second resolution (`2026-01-01T10:20:00Z`). */
export function rfc3339(d: Date, name = 'date'): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime()))
    throw badData(`Invalid ${name} for a Pipedrive query: not a valid Date`);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Clamps a page size to 1..500 (default 500). */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return MAX_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit)));
}

function idsParam(ids: readonly number[], name: string): string {
  if (ids.length > MAX_IDS)
    throw badData(`Pipedrive accepts at most ${MAX_IDS} ids per request (${name}: ${ids.length} given)`);
  const bad = ids.find((i) => !Number.isInteger(i) || i <= 0);
  if (bad !== undefined) throw badData(`Invalid id in ${name} for a Pipedrive query: ${String(bad)}`);
  return ids.join(',');
}

function isEntityNotFound(err: ApiError): boolean {
  const body = err.body?.trim() ?? '';
  return body.startsWith('{') && !/unknown method/i.test(body);
}

function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

export class PipedriveClient {
  /** Requests sent by this client (every attempt), total and per `GET /api/v2/organizations`-style route. */
  readonly counters: RequestCounters = { total: 0, byRoute: {} };

  private readonly http: AxiosInstance;
  private readonly policy: RetryPolicy;
  private readonly hooks: RequestHooks;
  private readonly timeoutMs: number;
  private readonly redact: (text: string) => string;
  private readonly pacer: BurstPacer | undefined;

  constructor(opts: PipedriveClientOptions) {
    const apiKey = opts.apiKey?.trim() ?? '';
    if (!apiKey) throw new ApiError({ api: 'pipedrive', type: 'auth', message: 'The Pipedrive API token is empty' });
    if (!opts.baseUrl) throw badData('The Pipedrive base URL is empty');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.policy = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    this.hooks = opts.hooks ?? {};
    this.pacer = opts.pace === false ? undefined : new BurstPacer();
    const baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.http = createAxios(baseUrl, { 'x-api-token': apiKey }, this.timeoutMs, { api: 'pipedrive' });
    const encoded = encodeURIComponent(apiKey);
    // (a very short test key would mangle every message; real tokens are 40 hex characters)
    this.redact =
      apiKey.length < 6
        ? (text) => text
        : (text) => {
            let out = text.split(apiKey).join('[redacted]');
            if (encoded !== apiKey) out = out.split(encoded).join('[redacted]');
            return out;
          };
  }

  // ---------- organizations ----------

  /** GET /api/v2/organizations, one page. limit default 500 (max 500). */
  async listOrganizations(p: ListOrganizationsParams = {}, how: RequestOptions = {}): Promise<Page<PdOrganization>> {
    if (p.ids && p.ids.length === 0) return { items: [], nextCursor: null };
    const limit = clampLimit(p.limit);
    const q: Query = { limit };
    if (p.cursor) q.cursor = p.cursor;
    if (p.updatedSince) q.updated_since = rfc3339(p.updatedSince, 'updatedSince');
    if (p.updatedUntil) q.updated_until = rfc3339(p.updatedUntil, 'updatedUntil');
    if (p.filterId !== undefined) q.filter_id = p.filterId;
    if (p.ids) q.ids = idsParam(p.ids, 'ids');
    if (p.ownerId !== undefined) q.owner_id = p.ownerId;
    if (p.sortBy) q.sort_by = p.sortBy;
    if (p.sortDirection) q.sort_direction = p.sortDirection;
    return this.listPage('/api/v2/organizations', q, limit, organizationSchema, 'organization', how);
  }

  /**
   * Every page of the listing, following `next_cursor`. A failure mid-way throws (after the
   * pages already yielded): the caller can tell a partial listing from a complete one.
   */
  async *organizationPages(
    p: Omit<ListOrganizationsParams, 'cursor'> = {},
    how: RequestOptions = {},
  ): AsyncGenerator<PdOrganization[]> {
    yield* this.pages(
      (cursor) => this.listOrganizations(cursor ? { ...p, cursor } : { ...p }, how),
      '/api/v2/organizations',
    );
  }

  /** GET /api/v2/organizations/{id}; 404 → null; a soft-deleted org is returned with isDeleted true. */
  async getOrganization(id: number): Promise<PdOrganization | null> {
    if (!Number.isInteger(id) || id <= 0) throw badData(`Invalid Pipedrive organization id: ${String(id)}`);
    const path = `/api/v2/organizations/${id}`;
    let body: unknown;
    try {
      body = await this.get('/api/v2/organizations/:id', path);
    } catch (err) {
      // Only a Pipedrive JSON 404 means "no such org": an HTML/proxy 404 or "Unknown method" (a
      // misrouted base URL) is thrown, so that a bad configuration never reads as "org gone".
      if (err instanceof ApiError && err.type === 'not_found' && isEntityNotFound(err)) return null;
      throw err;
    }
    const ctx = { method: 'GET', path };
    const env = itemEnvelope.safeParse(body);
    if (!env.success)
      throw badData(`Pipedrive GET ${path} returned an unexpected envelope: ${describeIssues(env.error)}`, ctx);
    const org = organizationSchema.safeParse(env.data.data);
    if (!org.success)
      throw badData(`Pipedrive GET ${path} returned a malformed organization: ${describeIssues(org.error)}`, ctx);
    return org.data;
  }

  // ---------- persons ----------

  /** GET /api/v2/persons, one page (orgId, ids ≤ 100, updatedSince, cursor, limit ≤ 500). */
  async listPersons(p: ListPersonsParams = {}, how: RequestOptions = {}): Promise<Page<PdPerson>> {
    if (p.ids && p.ids.length === 0) return { items: [], nextCursor: null };
    const limit = clampLimit(p.limit);
    const q: Query = { limit };
    if (p.cursor) q.cursor = p.cursor;
    if (p.orgId !== undefined) {
      if (!Number.isInteger(p.orgId) || p.orgId <= 0)
        throw badData(`Invalid Pipedrive organization id: ${String(p.orgId)}`);
      q.org_id = p.orgId;
    }
    if (p.ids) q.ids = idsParam(p.ids, 'ids');
    if (p.updatedSince) q.updated_since = rfc3339(p.updatedSince, 'updatedSince');
    if (p.updatedUntil) q.updated_until = rfc3339(p.updatedUntil, 'updatedUntil');
    return this.listPage('/api/v2/persons', q, limit, personSchema, 'person', how);
  }

  /** Every page of the persons listing (same contract as organizationPages). */
  async *personPages(p: Omit<ListPersonsParams, 'cursor'> = {}, how: RequestOptions = {}): AsyncGenerator<PdPerson[]> {
    yield* this.pages((cursor) => this.listPersons(cursor ? { ...p, cursor } : { ...p }, how), '/api/v2/persons');
  }

  // ---------- fields, users ----------

  /** GET /v1/organizationFields, all pages (offset paging; nested `pagination` or flat form). */
  async organizationFields(): Promise<PdField[]> {
    const path = '/v1/organizationFields';
    const ctx = { method: 'GET', path };
    const out: PdField[] = [];
    let start = 0;
    for (let page = 0; ; page++) {
      if (page >= MAX_FIELD_PAGES)
        throw badData(`Pipedrive GET ${path} kept paging past ${MAX_FIELD_PAGES} pages`, ctx);
      const body = await this.get(path, path, { start, limit: FIELDS_PAGE_SIZE });
      const env = fieldsEnvelope.safeParse(body);
      if (!env.success)
        throw badData(`Pipedrive GET ${path} returned an unexpected envelope: ${describeIssues(env.error)}`, ctx);
      env.data.data.forEach((raw, i) => {
        const f = fieldSchema.safeParse(raw);
        if (!f.success)
          throw badData(
            `Pipedrive GET ${path} returned a malformed field (item ${start + i}): ${describeIssues(f.error)}`,
            ctx,
          );
        out.push(f.data);
      });
      const ad = env.data.additional_data;
      const pg = ad?.pagination ?? ad;
      if (!pg?.more_items_in_collection) return out;
      const next = pg.next_start ?? start + env.data.data.length;
      if (next <= start || env.data.data.length === 0) {
        throw badData(`Pipedrive GET ${path} says more fields follow but gave no next page (start ${start})`, ctx);
      }
      start = next;
    }
  }

  /** GET /v1/users/me: the cheapest authenticated call (for health checks). */
  async me(): Promise<PdUser> {
    const path = '/v1/users/me';
    const body = await this.get(path, path);
    const env = itemEnvelope.safeParse(body);
    if (!env.success)
      throw badData(`Pipedrive GET ${path} returned an unexpected envelope: ${describeIssues(env.error)}`, {
        method: 'GET',
        path,
      });
    const u = userSchema.safeParse(env.data.data);
    if (!u.success)
      throw badData(`Pipedrive GET ${path} returned a malformed user: ${describeIssues(u.error)}`, {
        method: 'GET',
        path,
      });
    return u.data;
  }

  // ---------- internals ----------

  /**
   * The pages of a cursor listing, each next page asked for as soon as its cursor is known, while
   * the caller works on the page just yielded (so a listing's requests follow each other without
   * waiting for the caller; at most one page is read ahead). A caller that stops early leaves
   * that one request unread.
   */
  private async *pages<T>(
    fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
    path: string,
  ): AsyncGenerator<T[]> {
    const seen = new Set<string>();
    let next: Promise<Page<T>> | undefined = fetchPage(undefined);
    while (next) {
      const page: Page<T> = await next;
      next = undefined;
      if (page.nextCursor !== null) {
        if (seen.has(page.nextCursor)) {
          yield page.items;
          throw badData(`Pipedrive GET ${path} returned a cursor it had already returned (paging loop)`, {
            method: 'GET',
            path,
          });
        }
        seen.add(page.nextCursor);
        next = fetchPage(page.nextCursor);
        // Its failure is thrown at the caller's next step; never an unhandled rejection meanwhile.
        next.catch(() => undefined);
      }
      yield page.items;
    }
  }

  private async listPage<S extends z.ZodType>(
    path: string,
    q: Query,
    limit: number,
    schema: S,
    what: string,
    how: RequestOptions = {},
  ): Promise<Page<z.output<S>>> {
    const ctx = { method: 'GET', path };
    const body = await this.get(path, path, q, how);
    const env = listEnvelope.safeParse(body);
    if (!env.success)
      throw badData(`Pipedrive GET ${path} returned an unexpected envelope: ${describeIssues(env.error)}`, ctx);
    const items: z.output<S>[] = [];
    env.data.data.forEach((raw, i) => {
      const r = schema.safeParse(raw);
      if (!r.success) {
        const rawId = (raw as { id?: unknown } | null)?.id;
        const which = typeof rawId === 'number' || typeof rawId === 'string' ? `id ${rawId}, item ${i}` : `item ${i}`;
        throw badData(`Pipedrive GET ${path} returned a malformed ${what} (${which}): ${describeIssues(r.error)}`, ctx);
      }
      items.push(r.data);
    });
    const rawCursor = env.data.additional_data?.next_cursor;
    if (rawCursor === undefined && items.length >= limit) {
      throw badData(
        `Pipedrive GET ${path} returned a full page without additional_data.next_cursor; the listing may be incomplete`,
        ctx,
      );
    }
    return { items, nextCursor: rawCursor ? rawCursor : null };
  }

  /** One GET with retries; returns the parsed JSON body of a 2xx whose `success` is true. */
  private async get(route: string, path: string, params?: Query, how: RequestOptions = {}): Promise<unknown> {
    const method = 'GET';
    const ctx: RequestContext = { method, path, redact: this.redact, timeoutMs: this.timeoutMs };
    const routeKey = `${method} ${route}`;
    return withRetry('pipedrive', this.policy, this.hooks, async () => {
      this.counters.total += 1;
      this.counters.byRoute[routeKey] = (this.counters.byRoute[routeKey] ?? 0) + 1;
      let res;
      await this.pacer?.acquire(how.background);
      try {
        res = await this.http.request({ method, url: path, params });
      } catch (err) {
        this.pacer?.release(undefined, false);
        throw errorFromException(err, ctx);
      }
      const headers = res.headers as Record<string, unknown>;
      this.pacer?.release(headers['x-ratelimit-limit']);
      const mapped = errorFromResponse({ status: res.status, headers, data: res.data }, ctx);
      if (mapped) throw mapped;
      const data: unknown = res.data;
      if (typeof data !== 'object' || data === null || (data as { success?: unknown }).success !== true) {
        const excerpt = typeof data === 'string' ? data : JSON.stringify(data ?? null);
        throw badData(
          `Pipedrive ${method} ${path} returned ${res.status} without the expected JSON envelope (success: true)`,
          ctx,
          res.status,
          this.redact(excerpt).slice(0, 300),
        );
      }
      return data;
    });
  }
}
