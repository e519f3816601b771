import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import basicAuth from 'express-basic-auth';
import { z } from 'zod';
import type { Config } from '@pcs/config';
import { AppError, isUnreachable } from '@pcs/errors';
import type { Logger } from '@pcs/logger';
import { INTAKE_BUSY, OFFER_TIMEOUT_MS, type TargetedIntake } from './intake.js';

/**
 * POST /webhooks/pipedrive (docs/contract.md §4): Pipedrive webhook v1 and v2 organization and
 * person events. Answers 202 at once and queues a targeted sync of each organization concerned;
 * events of one organization coalesce into one pending sync that runs 2 s after the first of them
 * (not extended by later ones, docs/contract.md §6a: ≤ 15 s), and an event that comes while that
 * sync runs leads to one more after it. 400 for a malformed or over-long body or a bad id of an
 * organization event (a warning in the log, no stack); a person's bad `org_id` is only ignored,
 * with a warning (an optional reference: refusing the event would have Pipedrive count failures
 * and disable the webhook). 429 with Retry-After above WEBHOOK_MAX_PENDING pending targeted syncs
 * (§3); 503 with Retry-After while Redis is unreachable, when it has not answered within
 * OFFER_TIMEOUT_MS of the request's arrival, or at once when MAX_WAITING_OFFERS events already wait.
 */

/** The longest action, entity, event or version string accepted (Pipedrive's are under 30 characters). */
export const MAX_FIELD_LENGTH = 64;
/** Seconds a sender is told to wait after a 429 (the queue drains at several syncs a second). */
export const FULL_RETRY_AFTER_S = 10;
/** Seconds a sender is told to wait while Redis is unreachable. */
export const DOWN_RETRY_AFTER_S = 30;

const text = z.string().max(MAX_FIELD_LENGTH);

/** A Pipedrive id: a safe positive integer, as a number or a string of digits (a 23-digit id is refused). */
const id = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isSafeInteger(n) && n > 0) return n;
  ctx.addIssue({ code: 'custom', message: `expected a positive whole number below 2^53` });
  return z.NEVER;
});
const orgRef = z.union([id, z.object({ value: id }).transform((o) => o.value)]).nullish();

const v2Schema = z.object({
  meta: z.object({
    action: text,
    entity: text,
    entity_id: id,
    merged_to_id: id.nullish(),
    version: text.optional(),
  }),
  data: z.record(z.string(), z.unknown()).nullish(),
  previous: z.record(z.string(), z.unknown()).nullish(),
});

const v1Schema = z.object({
  event: text.optional(),
  meta: z.object({ action: text, object: text, id: id.optional() }),
  current: z.record(z.string(), z.unknown()).nullish(),
  previous: z.record(z.string(), z.unknown()).nullish(),
});

export interface ParsedEvent {
  version: '1' | '2';
  entity: string;
  action: string;
  /** The organizations whose contact may change. */
  orgIds: number[];
  /** Optional references left out because they are not valid ids (where and why, no value from the body). */
  ignored: string[];
}

/** A problem with the body, said in words a sender can act on (no value from the body in it). */
class Malformed extends Error {}

const issues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');

/**
 * An organization reference (`org_id`: an id or `{ value: id }`); absent or null is none. A bad one
 * throws Malformed, or when `ignored` is given (an optional reference) is noted there and skipped.
 */
function orgRefAt(
  obj: Record<string, unknown> | null | undefined,
  key: string,
  where: string,
  ignored?: string[],
): number | undefined {
  const v = obj?.[key];
  if (v === undefined || v === null) return undefined;
  const r = orgRef.safeParse(v);
  if (r.success) return r.data ?? undefined;
  const problem = `${where}.${key}: ${r.error.issues[0]?.message ?? 'not an id'}`;
  if (!ignored) throw new Malformed(problem);
  ignored.push(problem);
  return undefined;
}

/** Parses a v1 or v2 payload; returns a string describing what is wrong when it is neither. */
export function parsePipedriveEvent(body: unknown): ParsedEvent | string {
  try {
    return parse(body);
  } catch (err) {
    if (err instanceof Malformed) return `not a Pipedrive webhook payload: ${err.message}`;
    throw err;
  }
}

function parse(body: unknown): ParsedEvent | string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object';
  const isV2 = typeof (body as { meta?: { entity?: unknown } }).meta?.entity === 'string';
  const ids = new Set<number>();
  const ignored: string[] = [];
  if (isV2) {
    const r = v2Schema.safeParse(body);
    if (!r.success) return `not a Pipedrive webhook v2 payload: ${issues(r.error)}`;
    const { meta, data, previous } = r.data;
    if (meta.entity === 'organization') {
      ids.add(meta.entity_id);
      if (meta.merged_to_id) ids.add(meta.merged_to_id);
    } else if (meta.entity === 'person') {
      for (const o of [orgRefAt(data, 'org_id', 'data', ignored), orgRefAt(previous, 'org_id', 'previous', ignored)])
        if (o) ids.add(o);
    }
    return { version: '2', entity: meta.entity, action: meta.action, orgIds: [...ids], ignored };
  }
  const r = v1Schema.safeParse(body);
  if (!r.success) return `not a Pipedrive webhook payload (v1 or v2): ${issues(r.error)}`;
  const { meta, current, previous } = r.data;
  if (meta.object === 'organization') {
    const orgId = meta.id ?? orgRefAt(current, 'id', 'current') ?? orgRefAt(previous, 'id', 'previous');
    if (orgId) ids.add(orgId);
    const mergedInto = orgRefAt(current ?? previous, 'merge_what_id', current ? 'current' : 'previous');
    if (mergedInto) ids.add(mergedInto);
  } else if (meta.object === 'person') {
    for (const o of [
      orgRefAt(current, 'org_id', 'current', ignored),
      orgRefAt(previous, 'org_id', 'previous', ignored),
    ])
      if (o) ids.add(o);
  }
  return { version: '1', entity: meta.object, action: meta.action, orgIds: [...ids], ignored };
}

/** At most one line per `everyMs` for a condition that can repeat thousands of times a second. */
function throttled(everyMs: number) {
  let last = 0;
  let suppressed = 0;
  return (write: (suppressed: number) => void) => {
    if (Date.now() - last < everyMs) {
      suppressed++;
      return;
    }
    write(suppressed);
    last = Date.now();
    suppressed = 0;
  };
}

export function webhookRouter(config: Config, intake: TargetedIntake, log: Logger): Router {
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
  const fullWarning = throttled(10_000);
  const downWarning = throttled(10_000);
  const ignoredWarning = throttled(10_000);
  const refused = (req: Request, status: number, problem: string) =>
    log.warn({ status, problem, ip: req.ip }, `Pipedrive webhook refused (${status}): ${problem}`);

  router.post(
    '/webhooks/pipedrive',
    // The offers' deadline counts from here, before the body is read.
    (_req: Request, res: Response, next: NextFunction) => {
      res.locals.deadline = Date.now() + OFFER_TIMEOUT_MS;
      next();
    },
    auth,
    express.json({ limit: '1mb', type: () => true }),
    async (req: Request, res: Response, next: NextFunction) => {
      const parsed = parsePipedriveEvent(req.body);
      if (typeof parsed === 'string') {
        refused(req, 400, parsed);
        res.status(400).json({ error: parsed });
        return;
      }
      if (parsed.ignored.length)
        ignoredWarning((n) =>
          log.warn(
            { ip: req.ip, ignored: parsed.ignored, orgIds: parsed.orgIds, alsoIgnored: n },
            `Pipedrive webhook: ${parsed.entity} ${parsed.action} names an organization that is not a valid id; ignored: ${parsed.ignored.join('; ')}`,
          ),
        );
      if (!parsed.orgIds.length) {
        res.status(202).json({ accepted: false, reason: `${parsed.entity} ${parsed.action}: no organization to sync` });
        return;
      }
      const event = `${parsed.entity}.${parsed.action}`;
      try {
        const deadline = res.locals.deadline as number;
        const offers = await Promise.all(parsed.orgIds.map((orgId) => intake.offer(orgId, event, deadline)));
        if (offers.includes('full')) {
          fullWarning((n) =>
            log.warn(
              { orgIds: parsed.orgIds, maxPending: config.dashboard.webhookMaxPending, alsoRefused: n },
              'Pipedrive webhook refused (429): WEBHOOK_MAX_PENDING targeted syncs are pending',
            ),
          );
          res
            .status(429)
            .set('Retry-After', String(FULL_RETRY_AFTER_S))
            .json({ error: 'too many pending targeted syncs; retry later' });
          return;
        }
        log.info(
          { version: parsed.version, entity: parsed.entity, action: parsed.action, orgIds: parsed.orgIds, offers },
          'Pipedrive webhook accepted',
        );
        res.status(202).json({ accepted: true, orgIds: parsed.orgIds });
      } catch (err) {
        if (!isUnreachable(err)) return next(err);
        const busy = err instanceof AppError && err.code === INTAKE_BUSY;
        downWarning((n) =>
          log.warn(
            { err, alsoRefused: n },
            busy
              ? 'Pipedrive webhook refused (503): too many events are waiting for Redis'
              : 'Pipedrive webhook refused (503): Redis is unreachable or too slow',
          ),
        );
        res
          .status(503)
          .set('Retry-After', String(DOWN_RETRY_AFTER_S))
          .json({
            error: busy
              ? 'too many events are waiting for the queue; retry later'
              : 'the queue is unreachable or too slow; retry later',
          });
      }
    },
  );
  // A body that is not JSON, too large or in an unknown encoding: the sender's problem, a warning.
  router.use(
    '/webhooks/pipedrive',
    (err: Error & { status?: number; type?: string }, req: Request, res: Response, next: NextFunction) => {
      if (!err.status || err.status < 400 || err.status >= 500) return next(err);
      const problem =
        err.type === 'entity.parse.failed'
          ? 'body is not valid JSON'
          : err.type === 'entity.too.large'
            ? 'body is too large'
            : (err.type ?? 'unreadable body');
      refused(req, err.status, problem);
      res.status(err.status).json({ error: problem });
    },
  );
  return router;
}
