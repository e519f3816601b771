import { randomUUID } from 'node:crypto';
import { PD_CUSTOMER_TYPE_OPTIONS, PD_FIELD_KEYS, PD_LABEL_IDS, SIM_DEFAULTS } from '../defaults.js';
import type { MonotonicClock } from '../util.js';
import { Rng, rfc3339, sortedInsert, sortedRemove, lowerBound, upperBound, isPlainObject } from '../util.js';
import { asciiSlug, city, orgName, personName, phone } from './data.js';

export interface PdAddress {
  value: string | null;
  street_number: string | null;
  route: string | null;
  sublocality: string | null;
  locality: string | null;
  admin_area_level_1: string | null;
  admin_area_level_2: string | null;
  country: string | null;
  postal_code: string | null;
  formatted_address: string | null;
}

export interface PdOrg {
  id: number;
  name: string;
  owner_id: number;
  /** epoch ms (fractional for strict ordering) */
  add_time: number;
  update_time: number;
  is_deleted: boolean;
  visible_to: number;
  address: PdAddress | null;
  label_ids: number[];
  custom_fields: Record<string, unknown>;
}

export interface PdContactItem {
  value: string;
  primary: boolean;
  label: string;
}

export interface PdPerson {
  id: number;
  name: string;
  first_name: string | null;
  last_name: string | null;
  owner_id: number;
  org_id: number | null;
  add_time: number;
  update_time: number;
  emails: PdContactItem[];
  phones: PdContactItem[];
  is_deleted: boolean;
  visible_to: number;
  label_ids: number[];
  custom_fields: Record<string, unknown>;
}

export interface PdFilter {
  id: number;
  name: string;
  labelId?: number;
  ownerId?: number;
  add_time: number;
}

export interface PipedriveFaults {
  /** The valid token stops working: every call answers 401. */
  badToken: boolean;
  /** The next `count` requests answer the burst 429 (Retry-After 1..2). */
  burst429: { count: number } | null;
  /** Every request answers the daily-budget 429. */
  daily429: boolean;
  /** 0..1: share of requests answering a generic 500/503. */
  errorRate5xx: number;
  latencyMs: number;
  /** The next `count` requests answer a Cloudflare-style HTML 403. */
  html403: { count: number } | null;
  /** The org listing answers 500 once this many listing pages have been served (counted since the fault was set). */
  failAfterPages: number | null;
}

export interface PipedriveConfig {
  apiToken: string;
  customerLabelId: number;
  /** Rolling-window burst limiter per token; off by default (headers are still sent). */
  rateLimit: { enabled: boolean; burstLimit: number; windowMs: number };
  /** Daily token budget (§4.1); null = unlimited. */
  dailyBudget: number | null;
  /** What GET /api/v2/organizations/:id answers for a soft-deleted org. */
  deletedOrgById: 'return' | '404';
}

export function defaultPipedriveConfig(): PipedriveConfig {
  return {
    apiToken: SIM_DEFAULTS.pipedriveToken,
    customerLabelId: SIM_DEFAULTS.pipedriveCustomerLabelId,
    rateLimit: { enabled: false, burstLimit: 40, windowMs: 2000 },
    dailyBudget: null,
    deletedOrgById: 'return',
  };
}

export function defaultPipedriveFaults(): PipedriveFaults {
  return {
    badToken: false,
    burst429: null,
    daily429: false,
    errorRate5xx: 0,
    latencyMs: 0,
    html403: null,
    failAfterPages: null,
  };
}

export interface OrgInput {
  id?: number;
  name?: string;
  owner_id?: number;
  visible_to?: number;
  address?: Partial<PdAddress> | string | null;
  label_ids?: number[];
  /** Shallow-merged; a null value removes the key. */
  custom_fields?: Record<string, unknown>;
  is_deleted?: boolean;
}

export interface PersonInput {
  id?: number;
  name?: string;
  first_name?: string | null;
  last_name?: string | null;
  owner_id?: number;
  org_id?: number | null;
  /** strings or `{value, primary?, label?}` items (first is primary by default) */
  emails?: Array<string | (Partial<PdContactItem> & { value: string })>;
  phones?: Array<string | (Partial<PdContactItem> & { value: string })>;
  visible_to?: number;
  label_ids?: number[];
  custom_fields?: Record<string, unknown>;
  is_deleted?: boolean;
}

export interface SeedOptions {
  orgs: number;
  personsPerOrg?: number;
  /** Share of orgs carrying the Customer label (default 0.8). */
  customerRatio?: number;
  seed?: number;
}

export type SortBy = 'id' | 'update_time' | 'add_time';
export interface CursorData {
  field: SortBy;
  fieldValue: number;
  sortDirection: 'asc' | 'desc';
  id: number;
}

export interface ListQuery {
  sortBy: SortBy;
  dir: 'asc' | 'desc';
  limit: number;
  cursor: CursorData | null;
  /** epoch seconds; compared at second resolution like the real API */
  updatedSince: number | null;
  updatedUntil: number | null;
}

export interface WebhookEvent {
  version: '1.0' | '2.0';
  /** v2: create|change|delete; v1: added|updated|deleted|merged (either spelling is accepted). */
  action: string;
  entity: 'organization' | 'person';
  id: number;
  /** For merge deliveries: the surviving org id (`merged_to_id`). */
  mergedToId?: number;
  /** Previous values for a `change` (v2 sends only changed fields). */
  previous?: Record<string, unknown> | null;
}

interface Entity {
  id: number;
  add_time: number;
  update_time: number;
}

export function encodeCursor(c: CursorData): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(s: string): CursorData | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (!isPlainObject(v)) return null;
    const { field, fieldValue, sortDirection, id } = v;
    if (field !== 'id' && field !== 'update_time' && field !== 'add_time') return null;
    if (sortDirection !== 'asc' && sortDirection !== 'desc') return null;
    if (typeof fieldValue !== 'number' || typeof id !== 'number') return null;
    return { field, fieldValue, sortDirection, id };
  } catch {
    return null;
  }
}

function emptyAddress(): PdAddress {
  return {
    value: null,
    street_number: null,
    route: null,
    sublocality: null,
    locality: null,
    admin_area_level_1: null,
    admin_area_level_2: null,
    country: null,
    postal_code: null,
    formatted_address: null,
  };
}

/**
 * Generic cursor pagination. When `candidates` is null and sorting by id, seeks into the
 * id-sorted array with a binary search and walks only as far as needed.
 */
function paginate<T extends Entity>(
  sortedIds: readonly number[],
  map: ReadonlyMap<number, T>,
  candidates: T[] | null,
  pred: (t: T) => boolean,
  q: ListQuery,
): { items: T[]; next: string | null } {
  const want = q.limit + 1;
  let out: T[] = [];
  if (candidates === null && q.sortBy === 'id') {
    if (q.dir === 'asc') {
      let i = q.cursor ? upperBound(sortedIds, q.cursor.id) : 0;
      for (; i < sortedIds.length && out.length < want; i++) {
        const t = map.get(sortedIds[i] as number);
        if (t && pred(t)) out.push(t);
      }
    } else {
      let i = q.cursor ? lowerBound(sortedIds, q.cursor.id) - 1 : sortedIds.length - 1;
      for (; i >= 0 && out.length < want; i--) {
        const t = map.get(sortedIds[i] as number);
        if (t && pred(t)) out.push(t);
      }
    }
  } else {
    const src: T[] = candidates ?? sortedIds.map((id) => map.get(id)).filter((t): t is T => t !== undefined);
    const key = (t: T): number => (q.sortBy === 'id' ? t.id : t[q.sortBy]);
    const sign = q.dir === 'asc' ? 1 : -1;
    const cmp = (a: T, b: T): number => sign * (key(a) - key(b) || a.id - b.id);
    const list = src.filter(pred).sort(cmp);
    let start = 0;
    if (q.cursor) {
      const c = q.cursor;
      // first index strictly after the cursor position
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const t = list[mid] as T;
        const d = sign * (key(t) - c.fieldValue || t.id - c.id);
        if (d <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    out = list.slice(start, start + want);
  }
  let next: string | null = null;
  if (out.length > q.limit) {
    out = out.slice(0, q.limit);
    const last = out[out.length - 1] as T;
    next = encodeCursor({
      field: q.sortBy,
      fieldValue: q.sortBy === 'id' ? last.id : last[q.sortBy],
      sortDirection: q.dir,
      id: last.id,
    });
  }
  return { items: out, next };
}

function timeFilter(q: ListQuery): (t: Entity) => boolean {
  const since = q.updatedSince;
  const until = q.updatedUntil;
  return (t) => {
    const sec = Math.floor(t.update_time / 1000);
    if (since !== null && sec < since) return false;
    if (until !== null && sec >= until) return false;
    return true;
  };
}

/**
 * In-process state and control of the fake Pipedrive.
 *
 * Timestamps: every mutation bumps `update_time` from a strictly increasing clock, but the API
 * serializes them as RFC 3339 at second resolution and `updated_since` compares at second
 * resolution (like the real API), so incremental clients need an overlap window.
 */
export class PipedriveSim {
  config: PipedriveConfig = defaultPipedriveConfig();
  faults: PipedriveFaults = defaultPipedriveFaults();
  /** listing pages served since failAfterPages was set */
  orgPagesServed = 0;
  /** tokens used in the current UTC day */
  dailyUsed = 0;
  dailyDay = '';
  /** accepted request times for the rolling burst window */
  burstLog: number[] = [];

  private orgs = new Map<number, PdOrg>();
  private orgIds: number[] = [];
  private persons = new Map<number, PdPerson>();
  private personIds: number[] = [];
  private personsByOrg = new Map<number, Set<number>>();
  private filters = new Map<number, PdFilter>();
  private nextOrgId = 1;
  private nextPersonId = 1;
  private nextFilterId = 1;
  rng: Rng;

  /**
   * @param overrides configuration that `reset()` returns to (e.g. `{ customerLabelId: 23 }`).
   */
  constructor(
    private readonly clock: MonotonicClock,
    private readonly baseSeed: number,
    private readonly overrides: Partial<PipedriveConfig> = {},
  ) {
    this.rng = new Rng(baseSeed);
    this.config = this.baseConfig();
  }

  private baseConfig(): PipedriveConfig {
    const d = defaultPipedriveConfig();
    return { ...d, ...this.overrides, rateLimit: { ...d.rateLimit, ...(this.overrides.rateLimit ?? {}) } };
  }

  reset(): void {
    this.config = this.baseConfig();
    this.faults = defaultPipedriveFaults();
    this.orgPagesServed = 0;
    this.dailyUsed = 0;
    this.burstLog = [];
    this.orgs.clear();
    this.orgIds = [];
    this.persons.clear();
    this.personIds = [];
    this.personsByOrg.clear();
    this.filters.clear();
    this.nextOrgId = 1;
    this.nextPersonId = 1;
    this.nextFilterId = 1;
    this.rng = new Rng(this.baseSeed);
  }

  configure(
    partial: Partial<Omit<PipedriveConfig, 'rateLimit'>> & { rateLimit?: Partial<PipedriveConfig['rateLimit']> },
  ): PipedriveConfig {
    const { rateLimit, ...rest } = partial;
    this.config = { ...this.config, ...rest, rateLimit: { ...this.config.rateLimit, ...(rateLimit ?? {}) } };
    return this.config;
  }

  setFaults(partial: Partial<PipedriveFaults>): PipedriveFaults {
    if (partial.failAfterPages !== undefined) this.orgPagesServed = 0;
    this.faults = { ...this.faults, ...partial };
    return this.faults;
  }

  clearFaults(): PipedriveFaults {
    this.faults = defaultPipedriveFaults();
    this.orgPagesServed = 0;
    return this.faults;
  }

  // ---------- organizations ----------

  getOrg(id: number): PdOrg | undefined {
    return this.orgs.get(id);
  }

  /** All orgs (including soft-deleted), by id. */
  listOrgs(): PdOrg[] {
    return this.orgIds.map((id) => this.orgs.get(id) as PdOrg);
  }

  orgCount(): number {
    return this.orgIds.length;
  }

  upsertOrg(input: OrgInput): PdOrg {
    const now = this.clock.now();
    const existing = input.id !== undefined ? this.orgs.get(input.id) : undefined;
    const org: PdOrg = existing ?? {
      id: input.id ?? this.nextOrgId,
      name: input.name ?? `Organization ${input.id ?? this.nextOrgId}`,
      owner_id: SIM_DEFAULTS.pipedriveUserId,
      add_time: now,
      update_time: now,
      is_deleted: false,
      visible_to: 3,
      address: null,
      label_ids: [],
      custom_fields: {},
    };
    if (input.name !== undefined) org.name = input.name;
    if (input.owner_id !== undefined) org.owner_id = input.owner_id;
    if (input.visible_to !== undefined) org.visible_to = input.visible_to;
    if (input.label_ids !== undefined) org.label_ids = [...input.label_ids];
    if (input.is_deleted !== undefined) org.is_deleted = input.is_deleted;
    if (input.address !== undefined) {
      if (input.address === null) org.address = null;
      else if (typeof input.address === 'string')
        org.address = { ...emptyAddress(), value: input.address, formatted_address: input.address };
      else org.address = { ...(org.address ?? emptyAddress()), ...input.address };
    }
    if (input.custom_fields) {
      for (const [k, v] of Object.entries(input.custom_fields)) {
        if (v === null) delete org.custom_fields[k];
        else org.custom_fields[k] = v;
      }
    }
    org.update_time = now;
    if (!existing) {
      this.orgs.set(org.id, org);
      sortedInsert(this.orgIds, org.id);
      if (org.id >= this.nextOrgId) this.nextOrgId = org.id + 1;
    }
    return org;
  }

  /** Soft delete: `is_deleted: true`, update_time bumped (it is the delete time). */
  deleteOrg(id: number): PdOrg | undefined {
    const org = this.orgs.get(id);
    if (!org) return undefined;
    org.is_deleted = true;
    org.update_time = this.clock.now();
    return org;
  }

  /** Removes the org for good (as after the 30-day purge). */
  purgeOrg(id: number): boolean {
    if (!this.orgs.delete(id)) return false;
    sortedRemove(this.orgIds, id);
    return true;
  }

  /** `fromId` is soft-deleted and its persons move to `intoId` (both bumped). */
  mergeOrgs(fromId: number, intoId: number): PdOrg | undefined {
    const from = this.orgs.get(fromId);
    const into = this.orgs.get(intoId);
    if (!from || !into || fromId === intoId) return undefined;
    for (const pid of [...(this.personsByOrg.get(fromId) ?? [])]) {
      this.upsertPerson({ id: pid, org_id: intoId });
    }
    this.deleteOrg(fromId);
    into.update_time = this.clock.now();
    return into;
  }

  setCustomerLabel(orgId: number, on: boolean): PdOrg | undefined {
    const org = this.orgs.get(orgId);
    if (!org) return undefined;
    const id = this.config.customerLabelId;
    const has = org.label_ids.includes(id);
    if (on && !has) return this.upsertOrg({ id: orgId, label_ids: [...org.label_ids, id] });
    if (!on && has) return this.upsertOrg({ id: orgId, label_ids: org.label_ids.filter((l) => l !== id) });
    return org;
  }

  queryOrgs(
    q: ListQuery,
    opts: { ids?: number[]; ownerId?: number; filterId?: number },
  ): { items: PdOrg[]; next: string | null } | { error: string } {
    const tf = timeFilter(q);
    let candidates: PdOrg[] | null = null;
    let extra: (o: PdOrg) => boolean = () => true;
    if (opts.filterId !== undefined) {
      const f = this.filters.get(opts.filterId);
      if (!f) return { error: 'Filter not found' };
      extra = (o) =>
        (f.labelId === undefined || o.label_ids.includes(f.labelId)) &&
        (f.ownerId === undefined || o.owner_id === f.ownerId);
    } else {
      if (opts.ids) candidates = opts.ids.map((id) => this.orgs.get(id)).filter((o): o is PdOrg => o !== undefined);
      if (opts.ownerId !== undefined) {
        const owner = opts.ownerId;
        extra = (o) => o.owner_id === owner;
      }
    }
    if (candidates) candidates = [...new Map(candidates.map((o) => [o.id, o])).values()];
    return paginate(this.orgIds, this.orgs, candidates, (o) => !o.is_deleted && tf(o) && extra(o), q);
  }

  // ---------- persons ----------

  getPerson(id: number): PdPerson | undefined {
    return this.persons.get(id);
  }

  listPersons(): PdPerson[] {
    return this.personIds.map((id) => this.persons.get(id) as PdPerson);
  }

  personsOfOrg(orgId: number): PdPerson[] {
    return [...(this.personsByOrg.get(orgId) ?? [])]
      .map((id) => this.persons.get(id) as PdPerson)
      .sort((a, b) => a.id - b.id);
  }

  private linkPerson(p: PdPerson, orgId: number | null): void {
    if (p.org_id !== null) this.personsByOrg.get(p.org_id)?.delete(p.id);
    p.org_id = orgId;
    if (orgId !== null) {
      let s = this.personsByOrg.get(orgId);
      if (!s) this.personsByOrg.set(orgId, (s = new Set()));
      s.add(p.id);
    }
  }

  upsertPerson(input: PersonInput, at?: number): PdPerson {
    const now = at ?? this.clock.now();
    const existing = input.id !== undefined ? this.persons.get(input.id) : undefined;
    const p: PdPerson = existing ?? {
      id: input.id ?? this.nextPersonId,
      name: '',
      first_name: null,
      last_name: null,
      owner_id: SIM_DEFAULTS.pipedriveUserId,
      org_id: null,
      add_time: now,
      update_time: now,
      emails: [],
      phones: [],
      is_deleted: false,
      visible_to: 3,
      label_ids: [],
      custom_fields: {},
    };
    if (input.first_name !== undefined) p.first_name = input.first_name;
    if (input.last_name !== undefined) p.last_name = input.last_name;
    if (input.name !== undefined) p.name = input.name;
    else if (!existing || input.first_name !== undefined || input.last_name !== undefined)
      p.name = [p.first_name, p.last_name].filter(Boolean).join(' ') || p.name || `Person ${p.id}`;
    if (input.owner_id !== undefined) p.owner_id = input.owner_id;
    if (input.visible_to !== undefined) p.visible_to = input.visible_to;
    if (input.label_ids !== undefined) p.label_ids = [...input.label_ids];
    if (input.is_deleted !== undefined) p.is_deleted = input.is_deleted;
    const items = (arr: PersonInput['emails']): PdContactItem[] =>
      (arr ?? []).map((e, i) =>
        typeof e === 'string'
          ? { value: e, primary: i === 0, label: 'work' }
          : { value: e.value, primary: e.primary ?? i === 0, label: e.label ?? 'work' },
      );
    if (input.emails !== undefined) p.emails = items(input.emails);
    if (input.phones !== undefined) p.phones = items(input.phones);
    if (input.custom_fields) {
      for (const [k, v] of Object.entries(input.custom_fields)) {
        if (v === null) delete p.custom_fields[k];
        else p.custom_fields[k] = v;
      }
    }
    p.update_time = now;
    if (!existing) {
      this.persons.set(p.id, p);
      sortedInsert(this.personIds, p.id);
      if (p.id >= this.nextPersonId) this.nextPersonId = p.id + 1;
    }
    if (input.org_id !== undefined && input.org_id !== p.org_id) this.linkPerson(p, input.org_id);
    else if (!existing && input.org_id !== undefined) this.linkPerson(p, input.org_id);
    return p;
  }

  deletePerson(id: number): PdPerson | undefined {
    const p = this.persons.get(id);
    if (!p) return undefined;
    p.is_deleted = true;
    p.update_time = this.clock.now();
    return p;
  }

  queryPersons(
    q: ListQuery,
    opts: { ids?: number[]; ownerId?: number; orgId?: number },
  ): { items: PdPerson[]; next: string | null } {
    const tf = timeFilter(q);
    let candidates: PdPerson[] | null = null;
    if (opts.ids)
      candidates = [...new Set(opts.ids)]
        .map((id) => this.persons.get(id))
        .filter((p): p is PdPerson => p !== undefined);
    if (opts.orgId !== undefined) {
      const orgId = opts.orgId;
      const ofOrg = this.personsOfOrg(orgId);
      candidates = candidates ? candidates.filter((p) => p.org_id === orgId) : ofOrg;
    }
    const owner = opts.ownerId;
    return paginate(
      this.personIds,
      this.persons,
      candidates,
      (p) => !p.is_deleted && tf(p) && (owner === undefined || p.owner_id === owner),
      q,
    );
  }

  // ---------- filters ----------

  createFilter(name: string, def: { labelId?: number; ownerId?: number }): PdFilter {
    const f: PdFilter = { id: this.nextFilterId++, name, add_time: this.clock.now() };
    if (def.labelId !== undefined) f.labelId = def.labelId;
    if (def.ownerId !== undefined) f.ownerId = def.ownerId;
    this.filters.set(f.id, f);
    return f;
  }

  listFilters(): PdFilter[] {
    return [...this.filters.values()];
  }

  // ---------- seeding ----------

  /**
   * Adds `orgs` realistic orgs (ids continue after the existing ones) with ~`personsPerOrg`
   * persons each. Seeded timestamps lie in the past year (add_time <= update_time < now).
   */
  seed(opts: SeedOptions): { orgs: number; persons: number; firstOrgId: number; lastOrgId: number } {
    const rng = new Rng(opts.seed ?? this.rng.int(1, 2 ** 31));
    const per = opts.personsPerOrg ?? 3;
    const ratio = opts.customerRatio ?? 0.8;
    const nowMs = Date.now();
    const yearMs = 365 * 86_400_000;
    const firstOrgId = this.nextOrgId;
    let persons = 0;
    for (let n = 0; n < opts.orgs; n++) {
      const id = this.nextOrgId++;
      const c = city(rng);
      const add = nowMs - yearMs + Math.floor(rng.next() * (yearMs - 3_600_000));
      const upd = add + Math.floor(rng.next() * (nowMs - 60_000 - add));
      const street = String(rng.int(1, 250));
      const labels: number[] = [];
      if (rng.chance(ratio)) labels.push(this.config.customerLabelId);
      else if (rng.chance(0.5))
        labels.push(rng.pick([PD_LABEL_IDS.hotLead, PD_LABEL_IDS.warmLead, PD_LABEL_IDS.coldLead]));
      const custom: Record<string, unknown> = {};
      if (rng.chance(0.7)) custom[PD_FIELD_KEYS.customerType] = rng.pick(PD_CUSTOMER_TYPE_OPTIONS).id;
      if (rng.chance(0.4)) custom[PD_FIELD_KEYS.mainPhone] = phone(rng, c);
      if (rng.chance(0.3)) custom[PD_FIELD_KEYS.supportPortal] = `https://support.example/${id}`;
      const formatted = `${c.route} ${street}, ${c.postal} ${c.locality}, ${c.country}`;
      const org: PdOrg = {
        id,
        name: orgName(rng, id),
        owner_id: rng.pick([1, 1, 2, 3]),
        add_time: add,
        update_time: upd,
        is_deleted: false,
        visible_to: rng.pick([3, 3, 7]),
        address: rng.chance(0.9)
          ? {
              value: formatted,
              street_number: street,
              route: c.route,
              sublocality: null,
              locality: c.locality,
              admin_area_level_1: c.admin1,
              admin_area_level_2: null,
              country: c.country,
              postal_code: c.postal,
              formatted_address: formatted,
            }
          : null,
        label_ids: labels,
        custom_fields: custom,
      };
      this.orgs.set(id, org);
      this.orgIds.push(id);
      const count = per <= 0 ? 0 : Math.max(0, per + rng.int(-1, 1));
      const domain = `${asciiSlug(org.name.split(' ')[0] ?? 'org') || 'org'}${id}.example`;
      for (let k = 0; k < count; k++) {
        const nm = personName(rng);
        const pid = this.nextPersonId++;
        const pAdd = add + Math.floor(rng.next() * (upd - add));
        const emails: PdContactItem[] = rng.chance(0.8)
          ? [{ value: `${asciiSlug(nm.first)}.${asciiSlug(nm.last)}@${domain}`, primary: true, label: 'work' }]
          : rng.chance(0.3)
            ? [{ value: '', primary: true, label: 'work' }]
            : [];
        if (emails.length && rng.chance(0.1))
          emails.push({ value: `${asciiSlug(nm.first)}@home.example`, primary: false, label: 'home' });
        const phones: PdContactItem[] = rng.chance(0.75)
          ? [{ value: phone(rng, c), primary: true, label: rng.pick(['work', 'mobile']) }]
          : [];
        const p: PdPerson = {
          id: pid,
          name: `${nm.first} ${nm.last}`,
          first_name: nm.first,
          last_name: nm.last,
          owner_id: org.owner_id,
          org_id: id,
          add_time: pAdd,
          update_time: pAdd + Math.floor(rng.next() * (upd - pAdd)),
          emails,
          phones,
          is_deleted: false,
          visible_to: 3,
          label_ids: [],
          custom_fields: {},
        };
        this.persons.set(pid, p);
        this.personIds.push(pid);
        let s = this.personsByOrg.get(id);
        if (!s) this.personsByOrg.set(id, (s = new Set()));
        s.add(pid);
        persons++;
      }
    }
    return { orgs: opts.orgs, persons, firstOrgId, lastOrgId: this.nextOrgId - 1 };
  }

  // ---------- JSON ----------

  orgJson(o: PdOrg, customKeys?: string[]): Record<string, unknown> {
    let custom = o.custom_fields;
    if (customKeys) {
      custom = {};
      for (const k of customKeys) custom[k] = o.custom_fields[k] ?? null;
    }
    return {
      id: o.id,
      name: o.name,
      owner_id: o.owner_id,
      add_time: rfc3339(o.add_time),
      update_time: rfc3339(o.update_time),
      is_deleted: o.is_deleted,
      visible_to: o.visible_to,
      address: o.address ? { ...o.address } : null,
      label_ids: [...o.label_ids],
      custom_fields: { ...custom },
    };
  }

  personJson(p: PdPerson, customKeys?: string[]): Record<string, unknown> {
    let custom = p.custom_fields;
    if (customKeys) {
      custom = {};
      for (const k of customKeys) custom[k] = p.custom_fields[k] ?? null;
    }
    return {
      id: p.id,
      name: p.name,
      first_name: p.first_name,
      last_name: p.last_name,
      owner_id: p.owner_id,
      org_id: p.org_id,
      add_time: rfc3339(p.add_time),
      update_time: rfc3339(p.update_time),
      emails: p.emails.map((e) => ({ ...e })),
      phones: p.phones.map((e) => ({ ...e })),
      is_deleted: p.is_deleted,
      visible_to: p.visible_to,
      label_ids: [...p.label_ids],
      custom_fields: { ...custom },
    };
  }

  // ---------- webhooks ----------

  /** Builds a §5.2 (v2) or §5.3 (v1) payload for the current state of the entity. */
  webhookPayload(ev: WebhookEvent): Record<string, unknown> {
    const v2Action =
      ({ added: 'create', updated: 'change', deleted: 'delete', merged: 'change' } as Record<string, string>)[
        ev.action
      ] ?? ev.action;
    const v1Action =
      ({ create: 'added', change: 'updated', delete: 'deleted' } as Record<string, string>)[ev.action] ?? ev.action;
    const entity = ev.entity === 'organization' ? this.orgs.get(ev.id) : this.persons.get(ev.id);
    const current = entity
      ? ev.entity === 'organization'
        ? this.orgJson(entity as PdOrg)
        : this.personJson(entity as PdPerson)
      : { id: ev.id };
    const nowMs = Date.now();
    if (ev.version === '2.0') {
      const meta: Record<string, unknown> = {
        action: v2Action,
        entity: ev.entity,
        company_id: String(SIM_DEFAULTS.pipedriveCompanyId),
        correlation_id: randomUUID(),
        entity_id: String(ev.id),
        id: randomUUID(),
        is_bulk_edit: false,
        timestamp: new Date(nowMs).toISOString(),
        type: 'general',
        user_id: String(SIM_DEFAULTS.pipedriveUserId),
        version: '2.0',
        webhook_id: '1',
        webhook_owner_id: String(SIM_DEFAULTS.pipedriveUserId),
        change_source: 'app',
        attempt: 1,
        host: `${SIM_DEFAULTS.pipedriveCompanyDomain}.pipedrive.com`,
        permitted_user_ids: [String(SIM_DEFAULTS.pipedriveUserId)],
      };
      if (ev.mergedToId !== undefined) meta.merged_to_id = String(ev.mergedToId);
      const previous =
        v2Action === 'create'
          ? null
          : v2Action === 'delete'
            ? current
            : (ev.previous ?? { update_time: current.update_time ?? null });
      return { meta, data: v2Action === 'delete' ? null : current, previous };
    }
    // v1: flat custom fields, owner_id int, active_flag
    const flat = (obj: Record<string, unknown>): Record<string, unknown> => {
      const { custom_fields, is_deleted, label_ids, ...rest } = obj;
      const out: Record<string, unknown> = { ...rest, active_flag: !is_deleted };
      if (Array.isArray(label_ids)) {
        out.label_ids = label_ids;
        out.label = label_ids.length ? label_ids[0] : null;
      }
      if (isPlainObject(custom_fields)) Object.assign(out, custom_fields);
      return out;
    };
    const cur = flat(current);
    const meta = {
      v: 1,
      action: v1Action,
      object: ev.entity,
      change_source: 'app',
      id: ev.id,
      company_id: SIM_DEFAULTS.pipedriveCompanyId,
      user_id: SIM_DEFAULTS.pipedriveUserId,
      host: `${SIM_DEFAULTS.pipedriveCompanyDomain}.pipedrive.com`,
      timestamp: Math.floor(nowMs / 1000),
      timestamp_micro: nowMs * 1000,
      permitted_user_ids: [SIM_DEFAULTS.pipedriveUserId],
      trans_pending: false,
      is_bulk_update: false,
      pipedrive_service_name: false,
      matches_filters: { current: [], previous: [] },
      webhook_id: '1',
    };
    return {
      v: 1,
      matches_filters: { current: [], previous: [] },
      meta,
      retry: 0,
      current: v1Action === 'deleted' ? null : cur,
      previous: v1Action === 'added' ? null : cur,
      event: `${v1Action}.${ev.entity}`,
      ...(ev.mergedToId !== undefined ? { merged_to_id: ev.mergedToId } : {}),
    };
  }

  /** POSTs one webhook delivery with Basic auth; resolves to the receiver's HTTP status. */
  async sendWebhook(
    url: string,
    ev: WebhookEvent,
    auth?: { user: string; password: string },
    timeoutMs = 10_000,
  ): Promise<number> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Pipedrive Webhooks' };
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(this.webhookPayload(ev)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  }
}
