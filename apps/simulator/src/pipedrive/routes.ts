import express from 'express';
import type { Request, Response, NextFunction, Router, ErrorRequestHandler } from 'express';
import { PD_CUSTOMER_TYPE_OPTIONS, PD_FIELD_KEYS, PD_LABEL_IDS, SIM_DEFAULTS } from '../defaults.js';
import type { StatsRecorder } from '../stats.js';
import { firstQuery, route, sleep, v1Time } from '../util.js';
import type { ListQuery, PipedriveSim, SortBy } from './state.js';
import { decodeCursor } from './state.js';

export const PD_PREFIX = '/pipedrive';
const INFO = 'Please check developers.pipedrive.com';

export const PD_BODIES = {
  unauthorized: { success: false, error: 'unauthorized access', errorCode: 401, error_info: INFO },
  burst: { success: false, error: 'Request over limit', errorCode: 429, error_info: INFO },
  daily: { success: false, error: 'daily request budget exceeded', errorCode: 429, error_info: INFO },
  notFound: {
    success: false,
    error: 'Entity was not found',
    error_info: 'Object was not found.',
    data: null,
    additional_data: null,
  },
} as const;

const CLOUDFLARE_403 = `<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<html lang="en-US">
<head><title>Attention Required! | Cloudflare</title><meta charset="UTF-8" /></head>
<body>
<div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1 data-translate="block_headline">Sorry, you have been blocked</h1>
<h2 class="cf-subheadline">You are unable to access pipedrive.com</h2>
<p>This website is using a security service to protect itself from online attacks.</p>
<p>This error is produced by Cloudflare. Cloudflare Ray ID: <strong>8f00000000000000</strong></p>
</div></div>
</body>
</html>
`;

function envelope(error: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { success: false, error, error_info: INFO, data: null, additional_data: null, ...extra };
}

function badRequest(res: Response, msg: string): void {
  res.status(400).json(envelope(msg, { code: 'ERR_SCHEMA_VALIDATION_FAILED' }));
}

function secondsToUtcMidnight(): number {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - now.getTime()) / 1000));
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(v: string | undefined, name: string): number | null | string {
  if (v === undefined || v === '') return null;
  if (!RFC3339.test(v) || Number.isNaN(Date.parse(v))) return `Validation failed: ${name}: Invalid RFC3339 date-time`;
  return Math.floor(Date.parse(v) / 1000);
}

function parseIntParam(v: string | undefined, name: string): number | undefined | string {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) return `Validation failed: ${name}: Parameter must be an integer`;
  return Number(v);
}

interface ParsedList {
  q: ListQuery;
  ids?: number[];
  ownerId?: number;
  filterId?: number;
  orgId?: number;
  customKeys?: string[];
}

function parseList(req: Request): ParsedList | string {
  const qp = (k: string): string | undefined => firstQuery(req.query[k]);
  let limit = 100;
  const l = qp('limit');
  if (l !== undefined && l !== '') {
    if (!/^\d+$/.test(l) || Number(l) < 1) return 'Validation failed: limit: Parameter must be a positive integer';
    limit = Number(l);
    if (limit > 500) return 'Validation failed: limit: Parameter must be less than or equal to 500';
  }
  const sortBy = (qp('sort_by') ?? 'id') as SortBy;
  if (!['id', 'update_time', 'add_time'].includes(sortBy))
    return 'Validation failed: sort_by: Parameter must be one of id, update_time, add_time';
  const dir = (qp('sort_direction') ?? 'asc') as 'asc' | 'desc';
  if (dir !== 'asc' && dir !== 'desc') return 'Validation failed: sort_direction: Parameter must be one of asc, desc';
  let cursor = null;
  const c = qp('cursor');
  if (c) {
    cursor = decodeCursor(c);
    if (!cursor || cursor.field !== sortBy || cursor.sortDirection !== dir) return 'Invalid cursor';
  }
  const since = parseTime(qp('updated_since'), 'updated_since');
  if (typeof since === 'string') return since;
  const until = parseTime(qp('updated_until'), 'updated_until');
  if (typeof until === 'string') return until;
  const out: ParsedList = { q: { sortBy, dir, limit, cursor, updatedSince: since, updatedUntil: until } };
  const idsRaw = qp('ids');
  if (idsRaw !== undefined && idsRaw !== '') {
    const parts = idsRaw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (parts.some((p) => !/^\d+$/.test(p)))
      return 'Validation failed: ids: Parameter must be a comma-separated list of integers';
    if (parts.length > 100) return 'Validation failed: ids: Parameter must contain at most 100 ids';
    out.ids = parts.map(Number);
  }
  for (const [k, name] of [
    ['ownerId', 'owner_id'],
    ['filterId', 'filter_id'],
    ['orgId', 'org_id'],
  ] as const) {
    const v = parseIntParam(qp(name), name);
    if (typeof v === 'string') return v;
    if (v !== undefined) out[k] = v;
  }
  const cf = qp('custom_fields');
  if (cf !== undefined && cf !== '') {
    const keys = cf
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (keys.length > 15) return 'Validation failed: custom_fields: Parameter must contain at most 15 keys';
    out.customKeys = keys;
  }
  return out;
}

export function tokenOf(req: Request): string | undefined {
  const h = req.headers['x-api-token'];
  if (typeof h === 'string' && h) return h;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '');
  return firstQuery(req.query.api_token);
}

export function pipedriveRouter(sim: PipedriveSim, stats: StatsRecorder): Router {
  const r = express.Router();
  const P = PD_PREFIX;

  const windowState = (): { count: number; resetS: number } => {
    const { windowMs } = sim.config.rateLimit;
    const now = Date.now();
    const log = sim.burstLog;
    let k = 0;
    while (k < log.length && (log[k] as number) <= now - windowMs) k++;
    if (k) log.splice(0, k);
    const oldest = log[0];
    const resetS =
      oldest === undefined ? Math.ceil(windowMs / 1000) : Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
    return { count: log.length, resetS };
  };

  const dailyRemaining = (): number | null => {
    const day = new Date().toISOString().slice(0, 10);
    if (sim.dailyDay !== day) {
      sim.dailyDay = day;
      sim.dailyUsed = 0;
    }
    return sim.config.dailyBudget === null ? null : Math.max(0, sim.config.dailyBudget - sim.dailyUsed);
  };

  const setDailyHeaders = (res: Response): void => {
    const rem = dailyRemaining();
    if (rem !== null && sim.config.dailyBudget !== null) {
      res.setHeader('x-daily-ratelimit-token-limit', String(sim.config.dailyBudget));
      res.setHeader('x-daily-ratelimit-token-remaining', String(rem));
    }
  };

  const charge = (res: Response, cost: number): void => {
    stats.addTokens(String(res.locals.route), cost);
    res.locals.tokenCost = cost;
    sim.dailyUsed += cost;
    setDailyHeaders(res);
  };

  // 1. rate-limit headers on every response (refined by the limiter below)
  r.use((_req, res, next) => {
    const { count, resetS } = windowState();
    const limit = sim.config.rateLimit.burstLimit;
    res.setHeader('x-ratelimit-limit', String(limit));
    res.setHeader('x-ratelimit-remaining', String(Math.max(0, limit - count)));
    res.setHeader('x-ratelimit-reset', String(resetS));
    setDailyHeaders(res);
    next();
  });

  // 2. latency
  r.use(async (_req, _res, next) => {
    if (sim.faults.latencyMs > 0) await sleep(sim.faults.latencyMs);
    next();
  });

  // 3. auth before routing: any path, any method
  r.use((req, res, next) => {
    const tok = tokenOf(req);
    if (sim.faults.badToken || tok !== sim.config.apiToken) {
      res.setHeader('x-401-by-gw', 'true');
      res.status(401).json(PD_BODIES.unauthorized);
      return;
    }
    next();
  });

  // 4. Cloudflare abuse block
  r.use((_req, res, next) => {
    const f = sim.faults.html403;
    if (f && f.count > 0) {
      f.count--;
      if (f.count <= 0) sim.faults.html403 = null;
      res.status(403).type('text/html; charset=UTF-8').send(CLOUDFLARE_403);
      return;
    }
    next();
  });

  // 5. daily budget, then burst
  r.use((_req, res, next) => {
    const rem = dailyRemaining();
    if (sim.faults.daily429 || (rem !== null && rem <= 0)) {
      const retry = secondsToUtcMidnight();
      res.setHeader('x-daily-ratelimit-token-remaining', '0');
      if (sim.config.dailyBudget !== null)
        res.setHeader('x-daily-ratelimit-token-limit', String(sim.config.dailyBudget));
      res.setHeader('Retry-After', String(retry));
      res.status(429).json(PD_BODIES.daily);
      return;
    }
    const burst = (retryS: number): void => {
      res.setHeader('x-ratelimit-remaining', '0');
      res.setHeader('x-ratelimit-reset', String(retryS));
      res.setHeader('Retry-After', String(retryS));
      res.status(429).json(PD_BODIES.burst);
    };
    const f = sim.faults.burst429;
    if (f && f.count > 0) {
      f.count--;
      if (f.count <= 0) sim.faults.burst429 = null;
      burst(sim.rng.chance(0.5) ? 1 : 2);
      return;
    }
    const { count, resetS } = windowState();
    const { enabled, burstLimit } = sim.config.rateLimit;
    if (enabled && count >= burstLimit) {
      burst(resetS);
      return;
    }
    if (enabled) sim.burstLog.push(Date.now());
    const after = windowState();
    res.setHeader('x-ratelimit-remaining', String(Math.max(0, burstLimit - after.count)));
    res.setHeader('x-ratelimit-reset', String(after.resetS));
    next();
  });

  // 6. random 5xx
  r.use((_req, res, next) => {
    if (sim.faults.errorRate5xx > 0 && sim.rng.next() < sim.faults.errorRate5xx) {
      if (sim.rng.chance(0.5)) res.status(500).json(envelope('Internal server error'));
      else res.status(503).json(envelope('Requested service is not available'));
      return;
    }
    next();
  });

  r.use(express.json({ limit: '5mb' }));

  // ---------- organizations ----------
  route(r, P, 'get', '/api/v2/organizations', (req, res) => {
    const p = parseList(req);
    if (typeof p === 'string') return badRequest(res, p);
    const fap = sim.faults.failAfterPages;
    if (fap !== null && sim.orgPagesServed >= fap) {
      res.status(500).json(envelope('Internal server error'));
      return;
    }
    const result = sim.queryOrgs(p.q, {
      ...(p.ids ? { ids: p.ids } : {}),
      ...(p.ownerId !== undefined ? { ownerId: p.ownerId } : {}),
      ...(p.filterId !== undefined ? { filterId: p.filterId } : {}),
    });
    if ('error' in result) return badRequest(res, result.error);
    sim.orgPagesServed++;
    charge(res, 10);
    res.json({
      success: true,
      data: result.items.map((o) => sim.orgJson(o, p.customKeys)),
      additional_data: { next_cursor: result.next },
    });
  });

  const customKeysOf = (req: Request): string[] | undefined => {
    const cf = firstQuery(req.query.custom_fields);
    return cf
      ? cf
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .slice(0, 15)
      : undefined;
  };

  route(r, P, 'get', '/api/v2/organizations/:id', (req, res) => {
    charge(res, 1);
    const id = Number(req.params.id);
    const org = Number.isInteger(id) ? sim.getOrg(id) : undefined;
    if (!org || (org.is_deleted && sim.config.deletedOrgById === '404')) {
      res.status(404).json(PD_BODIES.notFound);
      return;
    }
    res.json({ success: true, data: sim.orgJson(org, customKeysOf(req)) });
  });

  route(r, P, 'delete', '/api/v2/organizations/:id', (req, res) => {
    charge(res, 3);
    const id = Number(req.params.id);
    const org = Number.isInteger(id) ? sim.getOrg(id) : undefined;
    if (!org || org.is_deleted) {
      res.status(404).json(PD_BODIES.notFound);
      return;
    }
    sim.deleteOrg(id);
    res.json({ success: true, data: { id } });
  });

  // ---------- persons ----------
  route(r, P, 'get', '/api/v2/persons', (req, res) => {
    const p = parseList(req);
    if (typeof p === 'string') return badRequest(res, p);
    const result = sim.queryPersons(p.q, {
      ...(p.ids ? { ids: p.ids } : {}),
      ...(p.ownerId !== undefined ? { ownerId: p.ownerId } : {}),
      ...(p.orgId !== undefined ? { orgId: p.orgId } : {}),
    });
    charge(res, 10);
    res.json({
      success: true,
      data: result.items.map((x) => sim.personJson(x, p.customKeys)),
      additional_data: { next_cursor: result.next },
    });
  });

  route(r, P, 'get', '/api/v2/persons/:id', (req, res) => {
    charge(res, 1);
    const id = Number(req.params.id);
    const person = Number.isInteger(id) ? sim.getPerson(id) : undefined;
    if (!person) {
      res.status(404).json(PD_BODIES.notFound);
      return;
    }
    res.json({ success: true, data: sim.personJson(person, customKeysOf(req)) });
  });

  // ---------- v1: fields, filters, users/me ----------
  const fieldsHandler = (req: Request, res: Response): void => {
    charge(res, 20);
    const start = Number(firstQuery(req.query.start) ?? 0) || 0;
    const limit = Math.min(500, Number(firstQuery(req.query.limit) ?? 100) || 100);
    const all = organizationFields(sim.config.customerLabelId);
    const page = all.slice(start, start + limit);
    const more = start + limit < all.length;
    res.json({
      success: true,
      data: page,
      additional_data: {
        pagination: { start, limit, more_items_in_collection: more, ...(more ? { next_start: start + limit } : {}) },
      },
    });
  };
  for (const base of ['/v1', '/api/v1']) route(r, P, 'get', `${base}/organizationFields`, fieldsHandler);

  const filtersHandler = (req: Request, res: Response): void => {
    charge(res, 20);
    const type = firstQuery(req.query.type);
    const data =
      type && type !== 'org'
        ? []
        : sim.listFilters().map((f) => ({
            id: f.id,
            name: f.name,
            active_flag: true,
            type: 'org',
            temporary_flag: null,
            user_id: SIM_DEFAULTS.pipedriveUserId,
            add_time: v1Time(f.add_time),
            update_time: v1Time(f.add_time),
            visible_to: '7',
            custom_view_id: null,
          }));
    res.json({ success: true, data });
  };
  for (const base of ['/v1', '/api/v1']) route(r, P, 'get', `${base}/filters`, filtersHandler);

  const meHandler = (_req: Request, res: Response): void => {
    charge(res, 2);
    res.json({
      success: true,
      data: {
        id: SIM_DEFAULTS.pipedriveUserId,
        name: 'Sim Admin',
        email: 'admin@sim.example',
        company_id: SIM_DEFAULTS.pipedriveCompanyId,
        company_name: 'Simulated Company',
        company_domain: SIM_DEFAULTS.pipedriveCompanyDomain,
        is_admin: 1,
        active_flag: true,
        timezone_name: 'UTC',
      },
    });
  };
  for (const base of ['/v1', '/api/v1']) route(r, P, 'get', `${base}/users/me`, meHandler);

  // unknown route (authenticated)
  r.use((_req, res) => {
    res.status(404).json(envelope('Unknown method .'));
  });

  const onError: ErrorRequestHandler = (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status === 400 || err instanceof SyntaxError) {
      badRequest(res, 'Invalid JSON body');
      return;
    }
    res.status(500).json(envelope('Internal server error'));
  };
  r.use(onError);
  return r;
}

export function organizationFields(customerLabelId: number): Record<string, unknown>[] {
  const t = '2024-01-15 09:00:00';
  const base = {
    add_time: t,
    update_time: t,
    active_flag: true,
    edit_flag: false,
    bulk_edit_allowed: true,
    searchable_flag: false,
    filtering_allowed: true,
    sortable_flag: true,
    options: null,
    mandatory_flag: false,
  };
  const labelOptions = [
    { id: customerLabelId, label: 'Customer', color: 'green' },
    { id: PD_LABEL_IDS.hotLead, label: 'Hot lead', color: 'red' },
    { id: PD_LABEL_IDS.warmLead, label: 'Warm lead', color: 'yellow' },
    { id: PD_LABEL_IDS.coldLead, label: 'Cold lead', color: 'blue' },
  ];
  return [
    {
      ...base,
      id: 1,
      key: 'name',
      name: 'Name',
      order_nr: 1,
      field_type: 'varchar',
      searchable_flag: true,
      mandatory_flag: true,
    },
    { ...base, id: 2, key: 'label', name: 'Label', order_nr: 2, field_type: 'enum', options: labelOptions },
    { ...base, id: 3, key: 'label_ids', name: 'Labels', order_nr: 3, field_type: 'set', options: labelOptions },
    { ...base, id: 4, key: 'owner_id', name: 'Owner', order_nr: 4, field_type: 'user' },
    { ...base, id: 5, key: 'address', name: 'Address', order_nr: 5, field_type: 'address' },
    { ...base, id: 6, key: 'visible_to', name: 'Visible to', order_nr: 6, field_type: 'visible_to' },
    {
      ...base,
      id: 7,
      key: 'add_time',
      name: 'Organization created',
      order_nr: 7,
      field_type: 'date',
      bulk_edit_allowed: false,
    },
    {
      ...base,
      id: 8,
      key: 'update_time',
      name: 'Update time',
      order_nr: 8,
      field_type: 'date',
      bulk_edit_allowed: false,
    },
    { ...base, id: 9, key: 'people_count', name: 'People', order_nr: 9, field_type: 'int', bulk_edit_allowed: false },
    {
      ...base,
      id: 4001,
      key: PD_FIELD_KEYS.customerType,
      name: 'Customer Type',
      order_nr: 10,
      field_type: 'enum',
      edit_flag: true,
      options: PD_CUSTOMER_TYPE_OPTIONS.map((o) => ({ ...o })),
    },
    {
      ...base,
      id: 4002,
      key: PD_FIELD_KEYS.mainPhone,
      name: 'Main phone',
      order_nr: 11,
      field_type: 'phone',
      edit_flag: true,
    },
    {
      ...base,
      id: 4003,
      key: PD_FIELD_KEYS.supportPortal,
      name: 'Support portal',
      order_nr: 12,
      field_type: 'varchar',
      edit_flag: true,
      searchable_flag: true,
    },
  ];
}
