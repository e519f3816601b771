import express from 'express';
import type { Request, Response, NextFunction, Router, ErrorRequestHandler } from 'express';
import { z } from 'zod';
import type { ChatwootSim } from './chatwoot/state.js';
import { contactJson } from './chatwoot/routes.js';
import type { GChatSim } from './gchat/state.js';
import type { PipedriveSim } from './pipedrive/state.js';
import type { StatsRecorder } from './stats.js';

export interface ControlDeps {
  pipedrive: PipedriveSim;
  chatwoot: ChatwootSim;
  gchat: GChatSim;
  stats: StatsRecorder;
  reset(): void;
}

const count = z.object({ count: z.number().int().min(0) }).strict();
const rate = z.number().min(0).max(1);
const latency = z.number().int().min(0).max(120_000);

export const schemas = {
  pipedriveFaults: z
    .object({
      badToken: z.boolean(),
      burst429: count.nullable(),
      daily429: z.boolean(),
      errorRate5xx: rate,
      latencyMs: latency,
      html403: count.nullable(),
      failAfterPages: z.number().int().min(0).nullable(),
    })
    .partial()
    .strict(),
  chatwootFaults: z
    .object({
      badToken: z.boolean(),
      burst429: count.nullable(),
      perMinuteLimit: z.number().int().min(1).nullable(),
      errorRate5xx: rate,
      latencyMs: latency,
    })
    .partial()
    .strict(),
  gchatFaults: z
    .object({
      fail: z.array(
        z
          .object({
            status: z.union([
              z.literal(400),
              z.literal(403),
              z.literal(404),
              z.literal(429),
              z.literal(500),
              z.literal(503),
            ]),
            count: z.number().int().min(1),
          })
          .strict(),
      ),
      latencyMs: latency,
      rateLimitPerMinute: z.number().int().min(1),
    })
    .partial()
    .strict(),
  pipedriveConfig: z
    .object({
      apiToken: z.string().min(1),
      customerLabelId: z.number().int().positive(),
      rateLimit: z
        .object({ enabled: z.boolean(), burstLimit: z.number().int().min(1), windowMs: z.number().int().min(1) })
        .partial()
        .strict(),
      dailyBudget: z.number().int().min(0).nullable(),
      deletedOrgById: z.enum(['return', '404']),
    })
    .partial()
    .strict(),
  chatwootConfig: z
    .object({ searchLimitPerMinute: z.number().int().min(1), searchIncludesUnresolved: z.boolean() })
    .partial()
    .strict(),
  seed: z
    .object({
      orgs: z.number().int().min(0).max(1_000_000),
      personsPerOrg: z.number().int().min(0).max(50).optional(),
      customerRatio: z.number().min(0).max(1).optional(),
      seed: z.number().int().optional(),
    })
    .strict(),
  org: z
    .object({
      id: z.number().int().positive().optional(),
      name: z.string().optional(),
      owner_id: z.number().int().optional(),
      visible_to: z.number().int().optional(),
      address: z.union([z.string(), z.null(), z.record(z.string(), z.string().nullable())]).optional(),
      label_ids: z.array(z.number().int()).optional(),
      custom_fields: z.record(z.string(), z.unknown()).optional(),
      is_deleted: z.boolean().optional(),
      customer: z.boolean().optional(),
    })
    .strict(),
  person: z
    .object({
      id: z.number().int().positive().optional(),
      name: z.string().optional(),
      first_name: z.string().nullable().optional(),
      last_name: z.string().nullable().optional(),
      owner_id: z.number().int().optional(),
      org_id: z.number().int().nullable().optional(),
      emails: z
        .array(
          z.union([
            z.string(),
            z.object({ value: z.string(), primary: z.boolean().optional(), label: z.string().optional() }),
          ]),
        )
        .optional(),
      phones: z
        .array(
          z.union([
            z.string(),
            z.object({ value: z.string(), primary: z.boolean().optional(), label: z.string().optional() }),
          ]),
        )
        .optional(),
      visible_to: z.number().int().optional(),
      label_ids: z.array(z.number().int()).optional(),
      custom_fields: z.record(z.string(), z.unknown()).optional(),
      is_deleted: z.boolean().optional(),
    })
    .strict(),
  filter: z
    .object({ name: z.string().min(1), labelId: z.number().int().optional(), ownerId: z.number().int().optional() })
    .strict(),
  webhook: z
    .object({
      url: z.url(),
      version: z.enum(['1.0', '2.0']).default('2.0'),
      action: z.enum(['create', 'change', 'delete', 'added', 'updated', 'deleted', 'merged']),
      entity: z.enum(['organization', 'person']).default('organization'),
      id: z.number().int().positive(),
      mergedToId: z.number().int().positive().optional(),
      previous: z.record(z.string(), z.unknown()).nullable().optional(),
      user: z.string().optional(),
      password: z.string().optional(),
      timeoutMs: z.number().int().min(1).max(60_000).optional(),
    })
    .strict(),
  contact: z
    .object({
      id: z.number().int().positive().optional(),
      name: z.string().nullable().optional(),
      email: z.string().nullable().optional(),
      phone_number: z.string().nullable().optional(),
      identifier: z.string().nullable().optional(),
      blocked: z.boolean().optional(),
      avatar_url: z.string().nullable().optional(),
      additional_attributes: z.record(z.string(), z.unknown()).optional(),
      custom_attributes: z.record(z.string(), z.unknown()).optional(),
      inbox_id: z.number().int().nullable().optional(),
      source_id: z.string().nullable().optional(),
      created_at: z.number().int().optional(),
      last_activity_at: z.number().int().nullable().optional(),
    })
    .strict(),
  conversation: z
    .object({
      status: z.enum(['open', 'resolved', 'pending', 'snoozed']).optional(),
      inboxId: z.number().int().optional(),
    })
    .strict(),
  online: z.object({ online: z.boolean().default(true) }).strict(),
  space: z
    .object({
      name: z
        .string()
        .min(1)
        .regex(/^[A-Za-z0-9_-]+$/),
      token: z.string().min(1).optional(),
      displayName: z.string().optional(),
    })
    .strict(),
};

class BadInput extends Error {}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new BadInput(r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
  return r.data;
}

function idParam(req: Request, name = 'id'): number {
  const v = Number(req.params[name]);
  if (!Number.isInteger(v) || v <= 0) throw new BadInput(`${name} must be a positive integer`);
  return v;
}

function notFound(res: Response, what: string): void {
  res.status(404).json({ error: `${what} not found` });
}

/** JSON control API (no auth), mirroring the in-process control methods. */
export function controlRouter(d: ControlDeps): Router {
  const r = express.Router();
  r.use(express.json({ limit: '10mb' }));
  const { pipedrive: pd, chatwoot: cw, gchat: gc } = d;

  r.post('/reset', (_req, res) => {
    d.reset();
    res.json({ ok: true });
  });
  r.get('/stats', (_req, res) => {
    res.json(d.stats.snapshot());
  });
  r.post('/stats/reset', (_req, res) => {
    d.stats.reset();
    res.json({ ok: true });
  });

  // ---------- faults ----------
  r.get('/:api/faults', (req, res) => {
    const api = req.params.api;
    if (api === 'pipedrive') res.json(pd.faults);
    else if (api === 'chatwoot') res.json(cw.faults);
    else if (api === 'gchat') res.json(gc.faults);
    else notFound(res, 'api');
  });
  r.post('/:api/faults', (req, res) => {
    const api = req.params.api;
    const clear = req.query.clear === '1' || req.query.clear === 'true';
    if (api === 'pipedrive') {
      const f = parse(schemas.pipedriveFaults, req.body);
      if (clear) pd.clearFaults();
      res.json(pd.setFaults(f as Parameters<PipedriveSim['setFaults']>[0]));
    } else if (api === 'chatwoot') {
      const f = parse(schemas.chatwootFaults, req.body);
      if (clear) cw.clearFaults();
      res.json(cw.setFaults(f as Parameters<ChatwootSim['setFaults']>[0]));
    } else if (api === 'gchat') {
      const f = parse(schemas.gchatFaults, req.body);
      if (clear) gc.clearFaults();
      res.json(gc.setFaults(f as Parameters<GChatSim['setFaults']>[0]));
    } else notFound(res, 'api');
  });

  // ---------- pipedrive ----------
  r.post('/pipedrive/config', (req, res) => {
    res.json(pd.configure(parse(schemas.pipedriveConfig, req.body)));
  });
  r.get('/pipedrive/config', (_req, res) => {
    res.json(pd.config);
  });
  r.post('/pipedrive/seed', (req, res) => {
    const b = parse(schemas.seed, req.body);
    res.json(pd.seed(b));
  });
  r.get('/pipedrive/orgs', (req, res) => {
    const includeDeleted = req.query.include_deleted !== '0';
    const offset = Math.max(0, Number(req.query.offset ?? 0) || 0);
    const limit = req.query.limit !== undefined ? Math.max(0, Number(req.query.limit) || 0) : Infinity;
    const all = pd.listOrgs().filter((o) => includeDeleted || !o.is_deleted);
    res.setHeader('x-total-count', String(all.length));
    res.json(all.slice(offset, offset + limit).map((o) => pd.orgJson(o)));
  });
  r.get('/pipedrive/orgs/:id', (req, res) => {
    const o = pd.getOrg(idParam(req));
    if (!o) return notFound(res, 'org');
    res.json(pd.orgJson(o));
  });
  r.post('/pipedrive/orgs', (req, res) => {
    const { customer, ...input } = parse(schemas.org, req.body);
    let org = pd.upsertOrg(input);
    if (customer !== undefined) org = pd.setCustomerLabel(org.id, customer) ?? org;
    res.json(pd.orgJson(org));
  });
  r.delete('/pipedrive/orgs/:id', (req, res) => {
    const id = idParam(req);
    if (req.query.purge === '1' || req.query.purge === 'true') {
      if (!pd.purgeOrg(id)) return notFound(res, 'org');
      res.json({ ok: true, id, purged: true });
      return;
    }
    const o = pd.deleteOrg(id);
    if (!o) return notFound(res, 'org');
    res.json(pd.orgJson(o));
  });
  r.post('/pipedrive/orgs/:from/merge/:into', (req, res) => {
    const into = pd.mergeOrgs(idParam(req, 'from'), idParam(req, 'into'));
    if (!into) return notFound(res, 'org');
    res.json(pd.orgJson(into));
  });
  r.get('/pipedrive/persons', (req, res) => {
    const orgId = req.query.org_id !== undefined ? Number(req.query.org_id) : undefined;
    const list = orgId !== undefined ? pd.personsOfOrg(orgId) : pd.listPersons();
    res.json(list.map((p) => pd.personJson(p)));
  });
  r.post('/pipedrive/persons', (req, res) => {
    res.json(pd.personJson(pd.upsertPerson(parse(schemas.person, req.body))));
  });
  r.delete('/pipedrive/persons/:id', (req, res) => {
    const p = pd.deletePerson(idParam(req));
    if (!p) return notFound(res, 'person');
    res.json(pd.personJson(p));
  });
  r.get('/pipedrive/filters', (_req, res) => {
    res.json(pd.listFilters());
  });
  r.post('/pipedrive/filters', (req, res) => {
    const { name, ...def } = parse(schemas.filter, req.body);
    res.json(pd.createFilter(name, def));
  });
  r.post('/pipedrive/webhook', async (req, res) => {
    const b = parse(schemas.webhook, req.body);
    const auth = b.user !== undefined ? { user: b.user, password: b.password ?? '' } : undefined;
    try {
      const status = await pd.sendWebhook(
        b.url,
        {
          version: b.version,
          action: b.action,
          entity: b.entity,
          id: b.id,
          ...(b.mergedToId !== undefined ? { mergedToId: b.mergedToId } : {}),
          ...(b.previous !== undefined ? { previous: b.previous } : {}),
        },
        auth,
        b.timeoutMs,
      );
      res.json({ status });
    } catch (e) {
      res.status(502).json({ error: `delivery failed: ${(e as Error).message}` });
    }
  });

  // ---------- chatwoot ----------
  r.post('/chatwoot/config', (req, res) => {
    res.json(cw.configure(parse(schemas.chatwootConfig, req.body)));
  });
  r.get('/chatwoot/contacts', (_req, res) => {
    res.json(
      cw.listAllContacts().map((c) => ({ ...contactJson(cw, c, true), conversations: cw.conversations(c.id).length })),
    );
  });
  r.get('/chatwoot/contacts/:id', (req, res) => {
    const c = cw.getContact(idParam(req));
    if (!c) return notFound(res, 'contact');
    res.json(contactJson(cw, c, true));
  });
  r.post('/chatwoot/contacts', (req, res) => {
    res.json(contactJson(cw, cw.seedContact(parse(schemas.contact, req.body)), true));
  });
  r.get('/chatwoot/contacts/:id/conversations', (req, res) => {
    res.json(cw.conversations(idParam(req)));
  });
  r.post('/chatwoot/contacts/:id/conversations', (req, res) => {
    const b = parse(schemas.conversation, req.body);
    const conv = cw.addConversation(idParam(req), b);
    if (!conv) return notFound(res, 'contact');
    res.json(conv);
  });
  r.post('/chatwoot/contacts/:id/online', (req, res) => {
    const { online } = parse(schemas.online, req.body);
    if (!cw.setOnline(idParam(req), online)) return notFound(res, 'contact');
    res.json({ ok: true, online });
  });
  r.get('/chatwoot/definitions', (_req, res) => {
    res.json(cw.definitions());
  });

  // ---------- gchat ----------
  r.get('/gchat/messages', (req, res) => {
    const space = typeof req.query.space === 'string' ? req.query.space : undefined;
    res.json(gc.messages(space));
  });
  r.get('/gchat/threads', (req, res) => {
    const space = typeof req.query.space === 'string' ? req.query.space : undefined;
    res.json(gc.threads(space));
  });
  r.delete('/gchat/messages', (_req, res) => {
    gc.clear();
    res.json({ ok: true });
  });
  r.get('/gchat/spaces', (_req, res) => {
    res.json(gc.spaceNames());
  });
  r.post('/gchat/spaces', (req, res) => {
    const b = parse(schemas.space, req.body);
    gc.addSpace(b.name, {
      ...(b.token ? { token: b.token } : {}),
      ...(b.displayName ? { displayName: b.displayName } : {}),
    });
    res.json({ ok: true, spaces: gc.spaceNames() });
  });
  r.delete('/gchat/spaces/:name', (req, res) => {
    if (!gc.removeSpace(String(req.params.name))) return notFound(res, 'space');
    res.json({ ok: true, spaces: gc.spaceNames() });
  });

  r.use((_req, res) => notFound(res, 'control endpoint'));
  const onError: ErrorRequestHandler = (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof BadInput) {
      res.status(400).json({ error: err.message });
      return;
    }
    const status = (err as { status?: number }).status;
    if (status === 400 || err instanceof SyntaxError) {
      res.status(400).json({ error: 'invalid JSON body' });
      return;
    }
    res.status(500).json({ error: (err as Error).message ?? 'internal error' });
  };
  r.use(onError);
  return r;
}
