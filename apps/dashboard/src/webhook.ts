import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import basicAuth from 'express-basic-auth';
import { z } from 'zod';
import type { Config } from '@pcs/config';
import type { Logger } from '@pcs/logger';
import { syncOrgJob, WEBHOOK_PRIORITY } from '@pcs/jobs';
import { enqueue, type Queues } from '@pcs/queues';

/**
 * POST /webhooks/pipedrive: Pipedrive webhook v1 and v2 organization and person events.
 * Answers 202 at once and enqueues a targeted upsert of the organization, debounced per
 * organization (several edits within a few seconds → one upsert, with the newest data).
 */

/** Events of one organization within this window collapse into one upsert. */
export const WEBHOOK_DEBOUNCE_MS = 2_000;

const id = z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]);
const orgRef = z.union([id, z.object({ value: id }).transform((o) => o.value)]).nullish();

const v2Schema = z.object({
  meta: z.object({
    action: z.string(),
    entity: z.string(),
    entity_id: id,
    merged_to_id: id.nullish(),
    version: z.string().optional(),
  }),
  data: z.record(z.string(), z.unknown()).nullish(),
  previous: z.record(z.string(), z.unknown()).nullish(),
});

const v1Schema = z.object({
  event: z.string().optional(),
  meta: z.object({ action: z.string(), object: z.string(), id: id.optional() }),
  current: z.record(z.string(), z.unknown()).nullish(),
  previous: z.record(z.string(), z.unknown()).nullish(),
});

export interface ParsedEvent {
  version: '1' | '2';
  entity: string;
  action: string;
  /** The organizations whose contact may change. */
  orgIds: number[];
}

function orgOf(obj: Record<string, unknown> | null | undefined): number | undefined {
  const r = orgRef.safeParse(obj?.org_id);
  return r.success && r.data ? r.data : undefined;
}

/** Parses a v1 or v2 payload; returns a string describing what is wrong when it is neither. */
export function parsePipedriveEvent(body: unknown): ParsedEvent | string {
  if (!body || typeof body !== 'object') return 'body must be a JSON object';
  const isV2 = typeof (body as { meta?: { entity?: unknown } }).meta?.entity === 'string';
  if (isV2) {
    const r = v2Schema.safeParse(body);
    if (!r.success)
      return `not a Pipedrive webhook v2 payload: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
    const { meta, data, previous } = r.data;
    const ids = new Set<number>();
    if (meta.entity === 'organization') {
      ids.add(meta.entity_id);
      if (meta.merged_to_id) ids.add(meta.merged_to_id);
    } else if (meta.entity === 'person') {
      for (const o of [orgOf(data), orgOf(previous)]) if (o) ids.add(o);
    }
    return { version: '2', entity: meta.entity, action: meta.action, orgIds: [...ids] };
  }
  const r = v1Schema.safeParse(body);
  if (!r.success)
    return `not a Pipedrive webhook payload (v1 or v2): ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`;
  const { meta, current, previous } = r.data;
  const ids = new Set<number>();
  if (meta.object === 'organization') {
    const orgId = meta.id ?? (id.safeParse(current?.id ?? previous?.id).data as number | undefined);
    if (orgId) ids.add(orgId);
    const mergedInto = id.safeParse((current ?? previous)?.merge_what_id ?? undefined);
    if (mergedInto.success) ids.add(mergedInto.data);
  } else if (meta.object === 'person') {
    for (const o of [orgOf(current), orgOf(previous)]) if (o) ids.add(o);
  }
  return { version: '1', entity: meta.object, action: meta.action, orgIds: [...ids] };
}

export function webhookRouter(config: Config, queues: Queues, log: Logger): Router {
  const router = express.Router();
  const creds = config.dashboard.webhookAuth;
  if (!creds) {
    router.post('/webhooks/pipedrive', (_req, res) => {
      res
        .status(404)
        .json({ error: 'webhook intake is off (set PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD)' });
    });
    return router;
  }
  const auth = basicAuth({ users: { [creds.user]: creds.password }, challenge: true, realm: 'pipedrive-webhook' });
  router.post(
    '/webhooks/pipedrive',
    auth,
    express.json({ limit: '2mb', type: () => true }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const parsed = parsePipedriveEvent(req.body);
        if (typeof parsed === 'string') {
          res.status(400).json({ error: parsed });
          return;
        }
        if (!parsed.orgIds.length) {
          res
            .status(202)
            .json({ accepted: false, reason: `${parsed.entity} ${parsed.action}: no organization to sync` });
          return;
        }
        for (const orgId of parsed.orgIds) {
          await enqueue(
            queues,
            syncOrgJob,
            { orgId, trigger: 'webhook', event: `${parsed.entity}.${parsed.action}` },
            {
              delay: WEBHOOK_DEBOUNCE_MS,
              // Before the batches of a running sync (they run at priority 100).
              priority: WEBHOOK_PRIORITY,
              deduplication: { id: `org-${orgId}`, ttl: WEBHOOK_DEBOUNCE_MS, extend: true, replace: true },
            },
          );
        }
        log.info(
          { version: parsed.version, entity: parsed.entity, action: parsed.action, orgIds: parsed.orgIds },
          'Pipedrive webhook accepted',
        );
        res.status(202).json({ accepted: true, orgIds: parsed.orgIds });
      } catch (err) {
        next(err);
      }
    },
  );
  return router;
}
