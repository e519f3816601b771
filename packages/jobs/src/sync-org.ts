import { z } from 'zod';
import { defineJob, KEEP_COMPLETED, KEEP_FAILED, type enqueue } from '@pcs/queues';
import { JOB_NAMES } from './names.js';
import { triggerSchema } from './triggers.js';

/** A targeted upsert of one organization (Pipedrive webhook, or `manage sync --org`). */
export const syncOrgJob = defineJob({
  name: JOB_NAMES.syncOrg,
  queue: 'sync',
  description: 'Upsert one organization now (Pipedrive webhook event, or `manage sync --org`)',
  schema: z.object({
    orgId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    trigger: triggerSchema.default('webhook'),
    /** `<entity>.<action>` of the webhook event (each part at most 64 characters, checked at the intake). */
    event: z.string().max(129).optional(),
    /**
     * Write the contact even when its content hash is unchanged: `manage sync --org` syncs "whatever
     * their hash" (docs/contract.md §2). Webhook events leave it off (an unchanged organization
     * costs no Chatwoot call).
     */
    force: z.boolean().default(false),
  }),
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: KEEP_COMPLETED,
  removeOnFail: KEEP_FAILED,
});

/** Before the batches of a running sync (they run at priority 100). */
export const WEBHOOK_PRIORITY = 1;

/**
 * How long the first event of an organization waits for more before its targeted sync runs. The
 * wait is NOT extended by later events (a debounce that extends would never end for an
 * organization edited every second): an event reaches Chatwoot within this plus one sync, well
 * inside docs/contract.md §6a (15 s).
 */
export const TARGETED_COALESCE_MS = 2_000;

/** The deduplication id of an organization's pending targeted sync. */
export function targetedSyncKey(orgId: number): string {
  return `org-${orgId}`;
}

/**
 * The options of a targeted sync (docs/contract.md §3 WEBHOOK_MAX_PENDING: events of one
 * organization coalesce into one pending sync). BullMQ's deduplication in simple mode (no `ttl`)
 * with `keepLastIfActive`:
 * - while the organization's job waits (delayed or prioritized), another event adds nothing: the
 *   job has not fetched the organization yet, so it will read the newest data;
 * - while the job runs (it may have fetched already), the event is kept as the one next job of that
 *   organization, created when the running one ends (completed or failed for good): the last edit
 *   is never lost, and at most one job per organization waits;
 * - the delay is fixed from the first event (no `extend`, no `reschedule`).
 * No custom job id, so a completed job kept for Bull Board never swallows a later event.
 */
export function targetedSyncOptions(orgId: number): NonNullable<Parameters<typeof enqueue>[3]> {
  return {
    delay: TARGETED_COALESCE_MS,
    priority: WEBHOOK_PRIORITY,
    deduplication: { id: targetedSyncKey(orgId), keepLastIfActive: true },
  };
}

/**
 * The options of an operator's targeted sync (`manage sync --org`, docs/contract.md §2): at once (no
 * coalescing wait: the operator asked for this organization now), ahead of running batches like a
 * webhook event, and with no deduplication, so it is never swallowed by a pending webhook job that
 * would not force the write, and the CLI can follow its own job id.
 */
export function operatorSyncOptions(): NonNullable<Parameters<typeof enqueue>[3]> {
  return { priority: WEBHOOK_PRIORITY };
}
