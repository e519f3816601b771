import express from 'express';
import type { Request, Response, NextFunction, Router, ErrorRequestHandler } from 'express';
import { escapeHtml as esc, firstQuery, isPlainObject, rfc3339, route, sleep } from '../util.js';
import { buildFilter, fastCandidates, FilterError } from './filter.js';
import type {
  AttributeModel,
  ChatwootSim,
  ContactInput,
  CwContact,
  CwDefinition,
  DisplayType,
  RecordInvalid,
} from './state.js';
import { ATTRIBUTE_MODELS, DISPLAY_TYPES, isResolved } from './state.js';

export const CW_PREFIX = '/chatwoot';
const ACCT = '/api/v1/accounts/:accountId';
const PER_PAGE = 15;

export const CW_BODIES = {
  noToken: { errors: ['You need to sign in or sign up before continuing.'] },
  invalidToken: { error: 'Invalid Access Token' },
  notMember: { error: 'You are not authorized to access this account' },
  notFound: { error: 'Resource could not be found' },
  forbidden: { error: 'You are not authorized to do this action' },
} as const;

function sendRetryLater(res: Response): void {
  // rack-attack's default throttled responder: text/plain, no Retry-After, no RateLimit headers
  res.statusCode = 429;
  res.setHeader('Content-Type', 'text/plain');
  res.end('Retry later\n');
}

function isInvalid(v: unknown): v is RecordInvalid {
  return isPlainObject(v) && typeof v.message === 'string' && Array.isArray(v.attributes);
}

export function contactJson(sim: ChatwootSim, c: CwContact, withInboxes: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {
    additional_attributes: { ...c.additional_attributes },
    availability_status: sim.isOnline(c.id) ? 'online' : 'offline',
    email: c.email,
    id: c.id,
    name: c.name,
    phone_number: c.phone_number,
    blocked: c.blocked,
    identifier: c.identifier,
    thumbnail: '',
    custom_attributes: { ...c.custom_attributes },
  };
  if (c.last_activity_at !== null) o.last_activity_at = c.last_activity_at;
  o.created_at = c.created_at;
  if (withInboxes) {
    o.contact_inboxes = c.contact_inboxes.map((ci) => ({
      source_id: ci.source_id,
      inbox: { id: ci.inbox_id, name: `Inbox ${ci.inbox_id}`, channel_type: 'Channel::Api', provider: null },
    }));
  }
  return o;
}

function pageOf(req: Request): { page: number; currentPage: string | number } {
  const raw = firstQuery(req.query.page);
  if (raw === undefined) return { page: 1, currentPage: 1 };
  const n = parseInt(raw, 10);
  return { page: Number.isFinite(n) && n > 0 ? n : 1, currentPage: raw };
}

const SORTABLE: Record<string, (c: CwContact) => string | number | null> = {
  name: (c) => c.name?.toLowerCase() ?? null,
  email: (c) => c.email,
  phone_number: (c) => c.phone_number,
  last_activity_at: (c) => c.last_activity_at,
  created_at: (c) => c.created_at,
  company: (c) => String(c.additional_attributes.company_name ?? c.additional_attributes.company ?? '') || null,
  company_name: (c) => String(c.additional_attributes.company_name ?? '') || null,
  city: (c) => String(c.additional_attributes.city ?? '') || null,
  country: (c) => String(c.additional_attributes.country ?? '') || null,
};

/** Sift-like sort: `name`, `-last_activity_at`; nulls last ascending, first descending (Postgres). */
function sortContacts(list: CwContact[], sort: string | undefined): CwContact[] | null {
  if (!sort) return null;
  const desc = sort.startsWith('-');
  const get = SORTABLE[desc ? sort.slice(1) : sort];
  if (!get) return null;
  const sign = desc ? -1 : 1;
  return [...list].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    if (x === null && y === null) return a.id - b.id;
    if (x === null) return sign;
    if (y === null) return -sign;
    const d = x < y ? -1 : x > y ? 1 : 0;
    return sign * d || a.id - b.id;
  });
}

function contactInput(body: Record<string, unknown>): ContactInput {
  const out: ContactInput = {};
  const keys = [
    'name',
    'identifier',
    'email',
    'phone_number',
    'blocked',
    'avatar_url',
    'additional_attributes',
    'custom_attributes',
    'inbox_id',
    'source_id',
  ] as const;
  for (const k of keys) if (k in body) (out as Record<string, unknown>)[k] = body[k];
  return out;
}

function modelOf(v: unknown): AttributeModel | undefined | null {
  if (v === undefined || v === null || v === '') return undefined;
  const s = String(v);
  if (/^\d+$/.test(s)) return ATTRIBUTE_MODELS[Number(s)] ?? null;
  return (ATTRIBUTE_MODELS as readonly string[]).includes(s) ? (s as AttributeModel) : null;
}

function displayTypeOf(v: unknown): DisplayType | undefined | null {
  if (v === undefined || v === null || v === '') return undefined;
  const s = String(v);
  if (/^\d+$/.test(s)) return DISPLAY_TYPES[Number(s)] ?? null;
  return (DISPLAY_TYPES as readonly string[]).includes(s) ? (s as DisplayType) : null;
}

/** Rows shown per account on the HTML viewer. */
export const CW_VIEWER_MAX_ROWS = 500;

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** An http(s) value becomes a link; anything else (e.g. `javascript:`) stays escaped text. */
function link(v: unknown): string {
  const s = text(v);
  if (!/^https?:\/\//i.test(s)) return esc(s);
  return `<a href="${esc(s)}" target="_blank" rel="noopener noreferrer">${esc(s)}</a>`;
}

const STATUS_CUSTOMER = 'Customer';
const STATUS_FORMER = 'Former customer';

function renderContactsPage(sim: ChatwootSim): string {
  const rows = sim.contactsByUpdate();
  const total = rows.length;
  const status = (c: CwContact): unknown => c.custom_attributes.status;
  const customers = rows.filter((r) => status(r.contact) === STATUS_CUSTOMER).length;
  const former = rows.filter((r) => status(r.contact) === STATUS_FORMER).length;
  const invisible = rows.filter((r) => !isResolved(r.contact)).length;
  const { accountId, otherAccountId } = sim.config;
  const parts: string[] = [];
  parts.push(`<h2>Account ${esc(accountId)} <small>${total} contact(s)</small></h2>`);
  parts.push(
    `<p class="counts"><span data-count="total">${total}</span> contacts · <span data-count="customer">${customers}</span> ${esc(STATUS_CUSTOMER)} · ` +
      `<span data-count="former">${former}</span> ${esc(STATUS_FORMER)}` +
      (invisible
        ? ` · <span data-count="invisible">${invisible}</span> without email, phone or identifier (not listed by the API)`
        : '') +
      '</p>',
  );
  if (!total) parts.push('<p class="empty">No contacts yet.</p>');
  else {
    if (total > CW_VIEWER_MAX_ROWS)
      parts.push(`<p class="note">showing ${CW_VIEWER_MAX_ROWS} of ${total} (most recently updated first)</p>`);
    parts.push(
      '<table><thead><tr><th>id</th><th>name</th><th>identifier</th><th>phone_number</th><th>email</th><th>status</th><th>pipedrive_org_id</th>' +
        '<th>pipedrive_url</th><th>support_link</th><th>company</th><th>city</th><th>country</th><th>updated (UTC)</th></tr></thead><tbody>',
    );
    for (const { contact: c, updatedAt } of rows.slice(0, CW_VIEWER_MAX_ROWS)) {
      const ca = c.custom_attributes;
      const aa = c.additional_attributes;
      const st = text(ca.status);
      const cls = st === STATUS_CUSTOMER ? 'customer' : st === STATUS_FORMER ? 'former' : '';
      parts.push(
        `<tr${cls ? ` class="${cls}"` : ''}${isResolved(c) ? '' : ' title="not listed by the API: no email, phone or identifier"'}>` +
          `<td>${esc(c.id)}</td><td>${esc(c.name)}</td><td><code>${esc(c.identifier)}</code></td><td>${esc(c.phone_number)}</td><td>${esc(c.email)}</td>` +
          `<td>${esc(st)}</td><td>${esc(text(ca.pipedrive_org_id))}</td><td>${link(ca.pipedrive_url)}</td><td>${link(ca.support_link)}</td>` +
          `<td>${esc(text(aa.company_name ?? aa.company))}</td><td>${esc(text(aa.city))}</td><td>${esc(text(aa.country))}</td>` +
          `<td><time>${esc(rfc3339(updatedAt))}</time></td></tr>`,
      );
    }
    parts.push('</tbody></table>');
  }
  parts.push(
    `<h2>Account ${esc(otherAccountId)} <small>no access</small></h2><p class="empty">The tokens are not members of this account (API answers 401).</p>`,
  );
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3"><title>Chatwoot contacts (simulated)</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;background:#f5f7fb;color:#1f2d3d}h2 small{color:#8492a6;font-weight:normal;font-size:.6em}
.counts{font-size:1.05em}.counts span{font-weight:700}.note,.empty{color:#8492a6}table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;font-size:.85em}
th,td{padding:.35em .6em;border-bottom:1px solid #e0e6ed;text-align:left;vertical-align:top}th{background:#eef2f7;position:sticky;top:0}
tr.customer td:nth-child(6){color:#1f7a3a;font-weight:600}tr.former td:nth-child(6){color:#a15c00;font-weight:600}tr[title]{color:#8492a6}
time{white-space:nowrap;color:#5a6b7d}code{font-size:.95em}a{color:#1f6fd1}</style></head>
<body><h1>Chatwoot contacts (simulator)</h1><p class="note">Refreshes every 3 seconds. The API is under <code>${esc(CW_PREFIX)}/api/v1/accounts/${esc(accountId)}/…</code>.</p>
${parts.join('\n')}</body></html>`;
}

export function chatwootRouter(sim: ChatwootSim): Router {
  const r = express.Router();

  // Human-readable viewer (GET /chatwoot and /chatwoot/): no token, and registered before the rack-level
  // middleware so it neither waits for injected latency nor consumes 429 bursts or throttle windows;
  // it is not API traffic, so it is left out of the stats too.
  r.get('/', (_req, res) => {
    res.locals.skipStats = true;
    res.type('html').send(renderContactsPage(sim));
  });

  // rack-level: latency, throttles and injected 429s come before authentication
  r.use(async (_req, _res, next) => {
    if (sim.faults.latencyMs > 0) await sleep(sim.faults.latencyMs);
    next();
  });
  r.use((req, res, next) => {
    const f = sim.faults.burst429;
    if (f && f.count > 0) {
      f.count--;
      if (f.count <= 0) sim.faults.burst429 = null;
      return sendRetryLater(res);
    }
    if (sim.faults.perMinuteLimit !== null && sim.hitWindow('req/ip', sim.faults.perMinuteLimit))
      return sendRetryLater(res);
    const m = /^\/api\/v1\/accounts\/([^/]+)\/contacts\/search\/?$/.exec(req.path);
    if (m && sim.hitWindow(`search:${m[1]}`, sim.config.searchLimitPerMinute)) return sendRetryLater(res);
    next();
  });

  const acct = express.Router({ mergeParams: true });
  const P = `${CW_PREFIX}${ACCT}`;

  acct.use((req, res, next) => {
    const tok = req.headers.api_access_token;
    if (tok === undefined) {
      res.status(401).json(CW_BODIES.noToken);
      return;
    }
    const { adminToken, agentToken, accountId, otherAccountId } = sim.config;
    const role = sim.faults.badToken
      ? null
      : tok === adminToken
        ? 'administrator'
        : tok === agentToken
          ? 'agent'
          : null;
    if (!role) {
      res.status(401).json(CW_BODIES.invalidToken);
      return;
    }
    const aid = Number(req.params.accountId);
    if (aid !== accountId && aid !== otherAccountId) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    if (aid !== accountId) {
      res.status(401).json(CW_BODIES.notMember);
      return;
    }
    res.locals.role = role;
    next();
  });
  acct.use((_req, res, next) => {
    if (sim.faults.errorRate5xx > 0 && sim.rng.next() < sim.faults.errorRate5xx) {
      if (sim.rng.chance(0.5)) res.status(500).json({ status: 500, error: 'Internal Server Error' });
      else res.status(503).json({ status: 503, error: 'Service Unavailable' });
      return;
    }
    next();
  });
  acct.use(express.json({ limit: '5mb' }));
  // Like Puma, which dispatches a request only once its whole body has arrived: a request whose
  // client went away before the body was read is dropped, never run with an empty body. A request
  // received whole is still carried out even if its client is gone by now (as a real server does).
  acct.use((req, res, next) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (req.method !== 'GET' && req.method !== 'DELETE' && declared > 0 && req.body === undefined) {
      res.destroy();
      return;
    }
    next();
  });

  const isAdmin = (res: Response): boolean => {
    if (res.locals.role === 'administrator') return true;
    res.status(401).json(CW_BODIES.forbidden);
    return false;
  };
  const contactOr404 = (req: Request, res: Response): CwContact | undefined => {
    const c = sim.getContact(Number(req.params.id));
    if (!c) res.status(404).json(CW_BODIES.notFound);
    return c;
  };
  const body = (req: Request): Record<string, unknown> => (isPlainObject(req.body) ? req.body : {});
  const withInboxes = (req: Request): boolean => firstQuery(req.query.include_contact_inboxes) !== 'false';

  // ---------- contacts ----------
  route(acct, P, 'get', '/contacts', (req, res) => {
    const { page, currentPage } = pageOf(req);
    const all = sim.resolvedContacts();
    // no ORDER BY without `sort`: deliberately unstable order
    const sorted = sortContacts(all, firstQuery(req.query.sort)) ?? sim.rng.shuffle([...all]);
    const rows = sorted.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    const wi = withInboxes(req);
    res.json({
      meta: { count: all.length, current_page: currentPage },
      payload: rows.map((c) => contactJson(sim, c, wi)),
    });
  });

  route(acct, P, 'get', '/contacts/search', (req, res) => {
    const q = firstQuery(req.query.q) ?? '';
    if (q.trim() === '') {
      res.status(422).json({ error: 'Specify search string with parameter q' });
      return;
    }
    const { page, currentPage } = pageOf(req);
    const ql = q.toLowerCase();
    const hits = (sim.config.searchIncludesUnresolved ? sim.listAllContacts() : sim.resolvedContacts()).filter(
      (c) =>
        (c.name ?? '').toLowerCase().includes(ql) ||
        (c.email ?? '').toLowerCase().includes(ql) ||
        (c.phone_number ?? '').toLowerCase().includes(ql) ||
        (c.identifier ?? '').includes(q),
    );
    const sorted = sortContacts(hits, firstQuery(req.query.sort)) ?? hits;
    const rows = sorted.slice((page - 1) * PER_PAGE, (page - 1) * PER_PAGE + PER_PAGE + 1);
    const hasMore = rows.length > PER_PAGE;
    const pageRows = rows.slice(0, PER_PAGE);
    const wi = withInboxes(req);
    res.json({
      meta: { count: pageRows.length, current_page: currentPage, has_more: hasMore },
      payload: pageRows.map((c) => contactJson(sim, c, wi)),
    });
  });

  route(acct, P, 'post', '/contacts/filter', (req, res) => {
    let pred;
    try {
      pred = buildFilter(sim, req.body);
    } catch (e) {
      if (e instanceof FilterError) {
        if (e.status === 500) res.status(500).json({ status: 500, error: 'Internal Server Error' });
        else res.status(422).json({ error: e.message });
        return;
      }
      throw e;
    }
    const { page, currentPage } = pageOf(req);
    const hits = (fastCandidates(sim, req.body) ?? sim.listAllContacts()).filter(pred);
    const sorted = sortContacts(hits, firstQuery(req.query.sort)) ?? hits;
    const rows = sorted.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    const wi = withInboxes(req);
    res.json({
      meta: { count: hits.length, current_page: currentPage },
      payload: rows.map((c) => contactJson(sim, c, wi)),
    });
  });

  route(acct, P, 'post', '/contacts', (req, res) => {
    const result = sim.createContact(contactInput(body(req)));
    if (isInvalid(result)) {
      res.status(422).json(result);
      return;
    }
    const ci = result.contact_inboxes[0];
    res.json({
      payload: {
        contact: contactJson(sim, result, true),
        contact_inbox: ci
          ? {
              inbox: { id: ci.inbox_id, name: `Inbox ${ci.inbox_id}`, channel_type: 'Channel::Api' },
              source_id: ci.source_id,
            }
          : { inbox: null, source_id: null },
      },
    });
  });

  route(acct, P, 'get', '/contacts/:id', (req, res) => {
    const c = contactOr404(req, res);
    if (c) res.json({ payload: contactJson(sim, c, true) });
  });

  const update = (req: Request, res: Response): void => {
    const input = contactInput(body(req));
    delete input.inbox_id;
    delete input.source_id;
    const result = sim.updateContact(Number(req.params.id), input);
    if (result === undefined) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    if (isInvalid(result)) {
      res.status(422).json(result);
      return;
    }
    res.json({ payload: contactJson(sim, result, true) });
  };
  route(acct, P, 'put', '/contacts/:id', update);
  route(acct, P, 'patch', '/contacts/:id', update);

  route(acct, P, 'delete', '/contacts/:id', (req, res) => {
    if (!isAdmin(res)) return;
    const c = contactOr404(req, res);
    if (!c) return;
    if (sim.isOnline(c.id)) {
      res.status(422).json({ message: `${c.name ?? ''} is Online, please try again later` });
      return;
    }
    sim.deleteContact(c.id);
    res.status(200).end();
  });

  route(acct, P, 'post', '/contacts/:id/destroy_custom_attributes', (req, res) => {
    const c = contactOr404(req, res);
    if (!c) return;
    const keys = body(req).custom_attributes;
    const list = Array.isArray(keys) ? keys.map(String) : typeof keys === 'string' ? [keys] : [];
    const updated = sim.destroyCustomAttributes(c.id, list) as CwContact;
    res.json({ payload: contactJson(sim, updated, true) });
  });

  route(acct, P, 'get', '/contacts/:id/conversations', (req, res) => {
    const c = contactOr404(req, res);
    if (!c) return;
    res.json({
      payload: sim.conversations(c.id).map((v) => ({
        id: v.id,
        contact_id: v.contact_id,
        status: v.status,
        inbox_id: v.inbox_id,
        account_id: sim.config.accountId,
      })),
    });
  });

  route(acct, P, 'post', '/actions/contact_merge', (req, res) => {
    const b = body(req);
    const result = sim.mergeContacts(Number(b.base_contact_id), Number(b.mergee_contact_id));
    if (result === undefined) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    if (isInvalid(result)) {
      res.status(422).json(result);
      return;
    }
    res.json(contactJson(sim, result, false));
  });

  // ---------- custom attribute definitions ----------
  const defJson = (d: CwDefinition): Record<string, unknown> => ({ ...d });

  route(acct, P, 'get', '/custom_attribute_definitions', (req, res) => {
    const m = modelOf(firstQuery(req.query.attribute_model));
    res.json(m === null ? [] : sim.definitions(m).map(defJson));
  });

  route(acct, P, 'get', '/custom_attribute_definitions/:id', (req, res) => {
    const d = sim.getDefinition(Number(req.params.id));
    if (!d) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    res.json(defJson(d));
  });

  route(acct, P, 'post', '/custom_attribute_definitions', (req, res) => {
    if (!isAdmin(res)) return;
    const w = body(req).custom_attribute_definition;
    if (!isPlainObject(w) || Object.keys(w).length === 0) {
      res.status(422).json({ error: 'param is missing or the value is empty: custom_attribute_definition' });
      return;
    }
    const model = modelOf(w.attribute_model);
    const type = displayTypeOf(w.attribute_display_type);
    if (model === null || type === null) {
      res.status(422).json({
        error: `'${String(model === null ? w.attribute_model : w.attribute_display_type)}' is not a valid ${model === null ? 'attribute_model' : 'attribute_display_type'}`,
      });
      return;
    }
    const result = sim.createDefinition({
      ...(typeof w.attribute_display_name === 'string' ? { attribute_display_name: w.attribute_display_name } : {}),
      ...(typeof w.attribute_key === 'string' ? { attribute_key: w.attribute_key } : {}),
      ...(model ? { attribute_model: model } : {}),
      ...(type ? { attribute_display_type: type } : {}),
      ...(typeof w.attribute_description === 'string' ? { attribute_description: w.attribute_description } : {}),
      ...(Array.isArray(w.attribute_values) ? { attribute_values: w.attribute_values } : {}),
      ...(typeof w.regex_pattern === 'string' ? { regex_pattern: w.regex_pattern } : {}),
      ...(w.default_value !== undefined ? { default_value: w.default_value } : {}),
    });
    if (isInvalid(result)) {
      res.status(422).json(result);
      return;
    }
    res.json(defJson(result));
  });

  const patchDef = (req: Request, res: Response): void => {
    if (!isAdmin(res)) return;
    const w = body(req).custom_attribute_definition;
    if (!isPlainObject(w)) {
      res.status(422).json({ error: 'param is missing or the value is empty: custom_attribute_definition' });
      return;
    }
    const patch: Record<string, unknown> = {};
    for (const k of [
      'attribute_display_name',
      'attribute_description',
      'attribute_values',
      'regex_pattern',
      'regex_cue',
      'default_value',
    ]) {
      if (k in w) patch[k] = w[k];
    }
    const d = sim.updateDefinition(Number(req.params.id), patch);
    if (!d) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    res.json(defJson(d));
  };
  route(acct, P, 'patch', '/custom_attribute_definitions/:id', patchDef);
  route(acct, P, 'put', '/custom_attribute_definitions/:id', patchDef);

  route(acct, P, 'delete', '/custom_attribute_definitions/:id', (req, res) => {
    if (!isAdmin(res)) return;
    if (!sim.deleteDefinition(Number(req.params.id))) {
      res.status(404).json(CW_BODIES.notFound);
      return;
    }
    res.status(204).end();
  });

  acct.use((_req, res) => {
    res.status(404).json({ error: 'Not Found' });
  });

  r.use(ACCT, acct);
  r.use((_req, res) => {
    res.status(404).json({ status: 404, error: 'Not Found' });
  });
  const onError: ErrorRequestHandler = (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status === 400 || err instanceof SyntaxError) {
      res.status(400).json({ status: 400, error: 'Bad Request' });
      return;
    }
    res.status(500).json({ status: 500, error: 'Internal Server Error' });
  };
  r.use(onError);
  return r;
}
