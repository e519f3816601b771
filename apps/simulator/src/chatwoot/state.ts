import { randomUUID } from 'node:crypto';
import { SIM_DEFAULTS } from '../defaults.js';
import { Rng, isPlainObject } from '../util.js';

export interface CwContactInbox {
  inbox_id: number;
  source_id: string;
}

export interface CwContact {
  id: number;
  name: string | null;
  email: string | null;
  phone_number: string | null;
  identifier: string | null;
  blocked: boolean;
  additional_attributes: Record<string, unknown>;
  custom_attributes: Record<string, unknown>;
  /** unix seconds */
  created_at: number;
  last_activity_at: number | null;
  avatar_url: string | null;
  contact_inboxes: CwContactInbox[];
}

export interface CwConversation {
  id: number;
  contact_id: number;
  status: 'open' | 'resolved' | 'pending' | 'snoozed';
  inbox_id: number | null;
}

export const ATTRIBUTE_MODELS = ['conversation_attribute', 'contact_attribute', 'company_attribute'] as const;
export const DISPLAY_TYPES = ['text', 'number', 'currency', 'percent', 'link', 'date', 'list', 'checkbox'] as const;
export type AttributeModel = (typeof ATTRIBUTE_MODELS)[number];
export type DisplayType = (typeof DISPLAY_TYPES)[number];

export interface CwDefinition {
  id: number;
  attribute_display_name: string;
  attribute_display_type: DisplayType;
  attribute_description: string | null;
  attribute_key: string;
  regex_pattern: string | null;
  regex_cue: string | null;
  attribute_values: unknown[];
  attribute_model: AttributeModel;
  default_value: unknown;
  created_at: string;
  updated_at: string;
}

export interface ChatwootFaults {
  /** Admin and agent tokens revoked: every call answers 401 Invalid Access Token. */
  badToken: boolean;
  /** The next `count` requests answer rack-attack's text/plain 429 `Retry later`. */
  burst429: { count: number } | null;
  /** Global request limit per minute (fixed window); null = off (real Chatwoot safelists loopback). */
  perMinuteLimit: number | null;
  /** 0..1 share of requests answering 500/503. */
  errorRate5xx: number;
  latencyMs: number;
}

export interface ChatwootConfig {
  accountId: number;
  otherAccountId: number;
  adminToken: string;
  agentToken: string;
  /** rack-attack search throttle per account (fixed window aligned to the minute). */
  searchLimitPerMinute: number;
  /**
   * Newer Chatwoot (PR #12956) searches `account.contacts`, so a contact with no email, phone or
   * identifier can still be found by name. Default false: search only sees resolved contacts
   * (invisible contacts are never found by list, search or filter).
   */
  searchIncludesUnresolved: boolean;
}

export function defaultChatwootConfig(): ChatwootConfig {
  return {
    accountId: SIM_DEFAULTS.chatwootAccountId,
    otherAccountId: SIM_DEFAULTS.chatwootOtherAccountId,
    adminToken: SIM_DEFAULTS.chatwootAdminToken,
    agentToken: SIM_DEFAULTS.chatwootAgentToken,
    searchLimitPerMinute: 100,
    searchIncludesUnresolved: false,
  };
}

export function defaultChatwootFaults(): ChatwootFaults {
  return { badToken: false, burst429: null, perMinuteLimit: null, errorRate5xx: 0, latencyMs: 0 };
}

export interface ContactInput {
  name?: string | null;
  email?: string | null;
  phone_number?: string | null;
  identifier?: string | null;
  blocked?: boolean;
  avatar_url?: string | null;
  additional_attributes?: Record<string, unknown>;
  custom_attributes?: Record<string, unknown>;
  inbox_id?: number | null;
  source_id?: string | null;
}

export interface SeedContactInput extends ContactInput {
  id?: number;
  created_at?: number;
  last_activity_at?: number | null;
}

export interface RecordInvalid {
  message: string;
  attributes: string[];
}

const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;
const E164_RE = /^\+[1-9]\d{1,14}$/;

export const STANDARD_CONTACT_KEYS = [
  'name',
  'email',
  'phone_number',
  'identifier',
  'country_code',
  'city',
  'created_at',
  'last_activity_at',
  'referer',
  'blocked',
];

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : String(v);
}

export function isResolved(c: CwContact): boolean {
  return !!(c.email || c.phone_number || c.identifier);
}

/** In-process state and control of the fake Chatwoot (one account with data). */
export class ChatwootSim {
  config: ChatwootConfig = defaultChatwootConfig();
  faults: ChatwootFaults = defaultChatwootFaults();
  rng: Rng;
  private contacts = new Map<number, CwContact>();
  /** lower-cased email / identifier / phone → contact ids (uniqueness checks and exact filter lookups) */
  private idx = {
    email: new Map<string, Set<number>>(),
    identifier: new Map<string, Set<number>>(),
    phone: new Map<string, Set<number>>(),
  };
  private sortedCache: CwContact[] | null = null;
  private convs = new Map<number, CwConversation>();
  private defs: CwDefinition[] = [];
  private onlineIds = new Set<number>();
  /** contact id → last write (ms, strictly increasing), for the HTML viewer's "newest updated first" */
  private updatedAt = new Map<number, number>();
  private lastUpdate = 0;
  private nextContactId = 1;
  private nextConvId = 1;
  private nextDefId = 1;
  /** fixed-window counters: key → count */
  windows = new Map<string, number>();

  constructor(private readonly baseSeed: number) {
    this.rng = new Rng(baseSeed ^ 0x5bd1e995);
  }

  reset(): void {
    this.config = defaultChatwootConfig();
    this.faults = defaultChatwootFaults();
    this.rng = new Rng(this.baseSeed ^ 0x5bd1e995);
    this.contacts.clear();
    for (const m of Object.values(this.idx)) m.clear();
    this.sortedCache = null;
    this.convs.clear();
    this.defs = [];
    this.onlineIds.clear();
    this.updatedAt.clear();
    this.lastUpdate = 0;
    this.nextContactId = 1;
    this.nextConvId = 1;
    this.nextDefId = 1;
    this.windows.clear();
  }

  configure(partial: Partial<ChatwootConfig>): ChatwootConfig {
    this.config = { ...this.config, ...partial };
    return this.config;
  }

  setFaults(partial: Partial<ChatwootFaults>): ChatwootFaults {
    this.faults = { ...this.faults, ...partial };
    return this.faults;
  }

  clearFaults(): ChatwootFaults {
    this.faults = defaultChatwootFaults();
    return this.faults;
  }

  /** Counts one hit in a fixed window aligned to the minute; true when over `limit`. */
  hitWindow(key: string, limit: number): boolean {
    const w = `${key}:${Math.floor(Date.now() / 60_000)}`;
    const n = (this.windows.get(w) ?? 0) + 1;
    if (this.windows.size > 1000) this.windows.clear();
    this.windows.set(w, n);
    return n > limit;
  }

  // ---------- contacts ----------

  getContact(id: number): CwContact | undefined {
    return this.contacts.get(id);
  }

  /** Every contact, including invisible (unresolved) ones, by id. */
  listAllContacts(): CwContact[] {
    if (!this.sortedCache) this.sortedCache = [...this.contacts.values()].sort((a, b) => a.id - b.id);
    return [...this.sortedCache];
  }

  /**
   * Contacts (invisible ones included) most recently written first, each with the time of its last
   * create / update / merge / attribute removal in ms. Read-only view for the HTML viewer.
   */
  contactsByUpdate(): { contact: CwContact; updatedAt: number }[] {
    return [...this.contacts.values()]
      .map((contact) => ({ contact, updatedAt: this.updatedAt.get(contact.id) ?? contact.created_at * 1000 }))
      .sort((a, b) => b.updatedAt - a.updatedAt || b.contact.id - a.contact.id);
  }

  private touch(id: number): void {
    const t = Date.now();
    this.lastUpdate = t > this.lastUpdate ? t : this.lastUpdate + 0.001;
    this.updatedAt.set(id, this.lastUpdate);
  }

  private put(c: CwContact): void {
    const old = this.contacts.get(c.id);
    if (old) this.unindex(old);
    this.contacts.set(c.id, c);
    this.index(c);
    this.sortedCache = null;
    this.touch(c.id);
  }

  private remove(id: number): boolean {
    const old = this.contacts.get(id);
    if (!old) return false;
    this.unindex(old);
    this.contacts.delete(id);
    this.updatedAt.delete(id);
    this.sortedCache = null;
    return true;
  }

  private index(c: CwContact): void {
    const add = (m: Map<string, Set<number>>, k: string | null): void => {
      if (k === null || (k === '' && m !== this.idx.identifier)) return;
      let set = m.get(k.toLowerCase());
      if (!set) m.set(k.toLowerCase(), (set = new Set()));
      set.add(c.id);
    };
    add(this.idx.email, c.email);
    add(this.idx.identifier, c.identifier);
    add(this.idx.phone, c.phone_number);
  }

  private unindex(c: CwContact): void {
    const del = (m: Map<string, Set<number>>, k: string | null): void => {
      if (k === null) return;
      const set = m.get(k.toLowerCase());
      set?.delete(c.id);
      if (set && set.size === 0) m.delete(k.toLowerCase());
    };
    del(this.idx.email, c.email);
    del(this.idx.identifier, c.identifier);
    del(this.idx.phone, c.phone_number);
  }

  /** Contacts whose lower-cased field equals `value` lower-cased (index lookup). */
  lookup(field: 'email' | 'identifier' | 'phone_number', value: string): CwContact[] {
    const m = field === 'email' ? this.idx.email : field === 'identifier' ? this.idx.identifier : this.idx.phone;
    return [...(m.get(value.toLowerCase()) ?? [])]
      .map((id) => this.contacts.get(id))
      .filter((c): c is CwContact => c !== undefined);
  }

  resolvedContacts(): CwContact[] {
    return this.listAllContacts().filter(isResolved);
  }

  isOnline(id: number): boolean {
    return this.onlineIds.has(id);
  }

  setOnline(contactId: number, on = true): boolean {
    if (!this.contacts.has(contactId)) return false;
    if (on) this.onlineIds.add(contactId);
    else this.onlineIds.delete(contactId);
    return true;
  }

  /** Marks a contact online (widget presence): DELETE then answers 422 "<Name> is Online". */
  online(contactId: number, on = true): boolean {
    return this.setOnline(contactId, on);
  }

  /** Creates a contact directly, bypassing every validation (e.g. legacy or invisible contacts). */
  seedContact(input: SeedContactInput): CwContact {
    const id = input.id ?? this.nextContactId;
    const c: CwContact = {
      id,
      name: input.name ?? '',
      email: input.email ?? null,
      phone_number: input.phone_number ?? null,
      identifier: input.identifier ?? null,
      blocked: input.blocked ?? false,
      additional_attributes: { ...(input.additional_attributes ?? {}) },
      custom_attributes: { ...(input.custom_attributes ?? {}) },
      created_at: input.created_at ?? Math.floor(Date.now() / 1000),
      last_activity_at: input.last_activity_at ?? null,
      avatar_url: input.avatar_url ?? null,
      contact_inboxes: [],
    };
    if (input.inbox_id)
      c.contact_inboxes.push({ inbox_id: input.inbox_id, source_id: input.source_id ?? randomUUID() });
    this.put(c);
    if (id >= this.nextContactId) this.nextContactId = id + 1;
    return c;
  }

  /** Rails-like validations of `Contact` (order: email, identifier, phone_number). */
  validate(c: CwContact): RecordInvalid | null {
    const msgs: string[] = [];
    const attrs: string[] = [];
    const add = (attr: string, msg: string): void => {
      msgs.push(msg);
      if (!attrs.includes(attr)) attrs.push(attr);
    };
    const others = (field: 'email' | 'identifier' | 'phone_number', v: string): CwContact[] =>
      this.lookup(field, v).filter((o) => o.id !== c.id);
    if (c.email) {
      if (others('email', c.email).length) add('email', 'Email has already been taken');
      if (!EMAIL_RE.test(c.email)) add('email', 'Email Invalid email');
    }
    if (c.identifier !== null) {
      // identifier "" is not turned into nil; a second "" clashes (DB unique index)
      const ident = c.identifier;
      if (others('identifier', ident).some((o) => o.identifier === ident))
        add('identifier', 'Identifier has already been taken');
    }
    if (c.phone_number) {
      const ph = c.phone_number;
      if (others('phone_number', ph).some((o) => o.phone_number === ph))
        add('phone_number', 'Phone number has already been taken');
      if (!E164_RE.test(c.phone_number)) add('phone_number', 'Phone number should be in e164 format');
    }
    return msgs.length ? { message: msgs.join(', '), attributes: attrs } : null;
  }

  private applyInput(c: CwContact, input: ContactInput): void {
    if (input.name !== undefined) c.name = str(input.name);
    if (input.email !== undefined) {
      const e = str(input.email);
      c.email = e === null || e.trim() === '' ? null : e.toLowerCase();
    }
    if (input.phone_number !== undefined) c.phone_number = str(input.phone_number);
    if (input.identifier !== undefined) c.identifier = str(input.identifier);
    if (input.blocked !== undefined) c.blocked = input.blocked === true || String(input.blocked) === 'true';
    if (input.avatar_url !== undefined) c.avatar_url = str(input.avatar_url);
    // shallow merge; a non-object (e.g. a JSON string) is silently ignored
    if (isPlainObject(input.additional_attributes))
      c.additional_attributes = { ...c.additional_attributes, ...input.additional_attributes };
    if (isPlainObject(input.custom_attributes))
      c.custom_attributes = { ...c.custom_attributes, ...input.custom_attributes };
  }

  createContact(input: ContactInput): CwContact | RecordInvalid {
    const c: CwContact = {
      id: this.nextContactId,
      name: '',
      email: null,
      phone_number: null,
      identifier: null,
      blocked: false,
      additional_attributes: {},
      custom_attributes: {},
      created_at: Math.floor(Date.now() / 1000),
      last_activity_at: null,
      avatar_url: null,
      contact_inboxes: [],
    };
    this.applyInput(c, input);
    const err = this.validate(c);
    if (err) return err;
    if (input.inbox_id)
      c.contact_inboxes.push({ inbox_id: Number(input.inbox_id), source_id: input.source_id ?? randomUUID() });
    this.put(c);
    this.nextContactId++;
    return c;
  }

  /** Same validations as create; every field is re-validated, so a clash on a field not sent fails the whole update. */
  updateContact(id: number, input: ContactInput): CwContact | RecordInvalid | undefined {
    const cur = this.contacts.get(id);
    if (!cur) return undefined;
    const next: CwContact = structuredClone(cur);
    this.applyInput(next, input);
    const err = this.validate(next);
    if (err) return err;
    this.put(next);
    return next;
  }

  /** Removes the contact and its conversations. */
  deleteContact(id: number): boolean {
    if (!this.remove(id)) return false;
    this.onlineIds.delete(id);
    for (const [cid, conv] of this.convs) if (conv.contact_id === id) this.convs.delete(cid);
    return true;
  }

  destroyCustomAttributes(id: number, keys: string[]): CwContact | undefined {
    const c = this.contacts.get(id);
    if (!c) return undefined;
    for (const k of keys) delete c.custom_attributes[k];
    this.touch(id);
    return c;
  }

  /**
   * ContactMergeAction: the mergee is deleted, its conversations move to the base, and the
   * base's non-blank attributes win over the mergee's (deep merge of the attribute hashes).
   */
  mergeContacts(baseId: number, mergeeId: number): CwContact | RecordInvalid | undefined {
    const base = this.contacts.get(baseId);
    const mergee = this.contacts.get(mergeeId);
    if (!base || !mergee) return undefined;
    if (baseId === mergeeId) return { message: 'contact does not belong to the account', attributes: [] };
    for (const conv of this.convs.values()) if (conv.contact_id === mergeeId) conv.contact_id = baseId;
    this.remove(mergeeId);
    this.onlineIds.delete(mergeeId);
    this.unindex(base);
    const blank = (v: unknown): boolean => v === null || v === undefined || v === '';
    const pick = <T>(b: T, m: T): T => (blank(b) ? m : b);
    base.name = pick(base.name, mergee.name);
    base.email = pick(base.email, mergee.email);
    base.phone_number = pick(base.phone_number, mergee.phone_number);
    base.identifier = pick(base.identifier, mergee.identifier);
    base.custom_attributes = { ...mergee.custom_attributes, ...base.custom_attributes };
    base.additional_attributes = { ...mergee.additional_attributes, ...base.additional_attributes };
    base.contact_inboxes = [...base.contact_inboxes, ...mergee.contact_inboxes];
    this.index(base);
    this.touch(baseId);
    return base;
  }

  // ---------- conversations ----------

  addConversation(
    contactId: number,
    opts: { status?: CwConversation['status']; inboxId?: number } = {},
  ): CwConversation | undefined {
    const c = this.contacts.get(contactId);
    if (!c) return undefined;
    const conv: CwConversation = {
      id: this.nextConvId++,
      contact_id: contactId,
      status: opts.status ?? 'open',
      inbox_id: opts.inboxId ?? null,
    };
    this.convs.set(conv.id, conv);
    c.last_activity_at = Math.floor(Date.now() / 1000);
    return conv;
  }

  conversations(contactId?: number): CwConversation[] {
    return [...this.convs.values()].filter((c) => contactId === undefined || c.contact_id === contactId);
  }

  // ---------- custom attribute definitions ----------

  definitions(model?: AttributeModel): CwDefinition[] {
    return this.defs.filter((d) => model === undefined || d.attribute_model === model);
  }

  getDefinition(id: number): CwDefinition | undefined {
    return this.defs.find((d) => d.id === id);
  }

  findDefinition(key: string, model: AttributeModel): CwDefinition | undefined {
    return this.defs.find((d) => d.attribute_key === key && d.attribute_model === model);
  }

  createDefinition(input: {
    attribute_display_name?: string;
    attribute_key?: string;
    attribute_model?: AttributeModel;
    attribute_display_type?: DisplayType;
    attribute_description?: string | null;
    attribute_values?: unknown[];
    regex_pattern?: string | null;
    regex_cue?: string | null;
    default_value?: unknown;
  }): CwDefinition | RecordInvalid {
    const msgs: string[] = [];
    const attrs: string[] = [];
    const key = input.attribute_key ?? '';
    const model = input.attribute_model ?? 'conversation_attribute';
    if (!input.attribute_display_name) {
      msgs.push("Attribute display name can't be blank");
      attrs.push('attribute_display_name');
    }
    if (!key) {
      msgs.push("Attribute key can't be blank");
      attrs.push('attribute_key');
    } else {
      if (this.findDefinition(key, model)) {
        msgs.push('Attribute key has already been taken');
        attrs.push('attribute_key');
      }
      if (model === 'contact_attribute' && STANDARD_CONTACT_KEYS.includes(key)) {
        msgs.push('Attribute key The provided key is not allowed as it might conflict with default attributes.');
        if (!attrs.includes('attribute_key')) attrs.push('attribute_key');
      }
    }
    if (msgs.length) return { message: msgs.join(', '), attributes: attrs };
    const now = new Date().toISOString();
    const d: CwDefinition = {
      id: this.nextDefId++,
      attribute_display_name: input.attribute_display_name ?? key,
      attribute_display_type: input.attribute_display_type ?? 'text',
      attribute_description: input.attribute_description ?? null,
      attribute_key: key,
      regex_pattern: input.regex_pattern ?? null,
      regex_cue: input.regex_cue ?? null,
      attribute_values: input.attribute_values ?? [],
      attribute_model: model,
      default_value: input.default_value ?? null,
      created_at: now,
      updated_at: now,
    };
    this.defs.push(d);
    return d;
  }

  updateDefinition(
    id: number,
    patch: Partial<
      Pick<
        CwDefinition,
        | 'attribute_display_name'
        | 'attribute_description'
        | 'attribute_values'
        | 'regex_pattern'
        | 'regex_cue'
        | 'default_value'
      >
    >,
  ): CwDefinition | undefined {
    const d = this.getDefinition(id);
    if (!d) return undefined;
    Object.assign(d, patch, { updated_at: new Date().toISOString() });
    return d;
  }

  deleteDefinition(id: number): boolean {
    const i = this.defs.findIndex((d) => d.id === id);
    if (i < 0) return false;
    this.defs.splice(i, 1);
    return true;
  }
}
