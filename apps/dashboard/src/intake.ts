import type { RedisClient } from '@pcs/queues';
import { AppError, withTimeout as bounded } from '@pcs/errors';
import { syncOrgJob, targetedSyncKey, targetedSyncOptions, WEBHOOK_PRIORITY } from '@pcs/jobs';
import { enqueue, type Queues } from '@pcs/queues';
import { withTimeout } from './health.js';

/**
 * What became of one organization's event:
 * - `queued`: added (a new pending targeted sync, or coalesced by BullMQ into the one pending, or
 *   stored as the next one of a running sync);
 * - `coalesced`: the intake is full, but this organization's sync is already pending and has not
 *   started, or it runs and its next sync is already stored (BullMQ would merge the event into
 *   that one), so a sync will read the edit anyway: nothing to add;
 * - `full`: WEBHOOK_MAX_PENDING targeted syncs are pending; the caller answers 429.
 *
 * An offer rejects with an AppError of kind `redis` (the caller answers 503) when Redis fails, when
 * Redis has not answered by the offer's deadline (code INTAKE_LATE), and at once when
 * MAX_WAITING_OFFERS offers are already waiting (code INTAKE_BUSY).
 */
export type Offer = 'queued' | 'coalesced' | 'full';

export interface TargetedIntake {
  /** `deadline`: epoch ms by which the offer must be settled, waiting for earlier offers included. */
  offer(orgId: number, event: string, deadline?: number): Promise<Offer>;
  /** Targeted syncs pending now, as the cap counts them. */
  pending(): Promise<number>;
}

/** How long a webhook event may wait for Redis, from the request's arrival, before a 503. */
export const OFFER_TIMEOUT_MS = 5_000;
/**
 * Offers that may wait for their turn; beyond, the next one is refused at once (503). While Redis
 * is slow every waiting offer costs memory and a held request, and a sender that times out resends.
 */
export const MAX_WAITING_OFFERS = 300;
export const INTAKE_LATE = 'INTAKE_LATE';
export const INTAKE_BUSY = 'INTAKE_BUSY';

/**
 * One round trip, O(log n): the pending count is the sync queue's delayed set (targeted syncs
 * wait there for their coalescing delay; the set also holds the next scheduled run and retry
 * backoffs, a handful, so the count errs on the side of the bound) plus its prioritized jobs of
 * the webhook priority (targeted syncs due now; batches run at another priority). When the count
 * has reached the cap, it also says whether this organization has a sync that has not started, or
 * a running one whose next job BullMQ already stores (keepLastIfActive keeps it in the hash
 * `<queue>:dn:<deduplication id>` while the job is in the active list, and overwrites it with a
 * later event: see bullmq's storeDeduplicatedNextJob.lua).
 *
 * KEYS: delayed, prioritized, deduplication key of the org, stored-next key of the org, active.
 * ARGV: lowest and highest prioritized score of the webhook priority, cap.
 * Returns { pending, 0 room | 1 org pending | 2 full }.
 */
const CHECK = `
local pending = redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], ARGV[1], ARGV[2])
if pending < tonumber(ARGV[3]) then return { pending, 0 } end
local id = redis.call('GET', KEYS[3])
if not id then return { pending, 2 } end
if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id) then return { pending, 1 } end
if redis.call('EXISTS', KEYS[4]) == 1 and redis.call('LPOS', KEYS[5], id) then return { pending, 1 } end
return { pending, 2 }
`;

/** BullMQ's prioritized score is priority * 2^32 + a counter. */
const PRIORITY_RANGE = [WEBHOOK_PRIORITY * 0x100000000, (WEBHOOK_PRIORITY + 1) * 0x100000000 - 1].map(String);

const late = (what: string) =>
  new AppError({
    kind: 'redis',
    source: 'redis',
    code: INTAKE_LATE,
    message: `${what}: Redis did not answer within ${OFFER_TIMEOUT_MS} ms of the event's arrival`,
  });

/** Settles as `p`, or rejects with `late(what)` at `deadline` (`p` itself goes on). */
function byDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  return bounded(p, deadline - Date.now(), () => late(what));
}

/**
 * The webhook intake's way into the sync queue (docs/contract.md §3 WEBHOOK_MAX_PENDING): one
 * pending targeted sync per organization (see targetedSyncOptions), and at most `maxPending` of
 * them. Offers are made one at a time in this process, so concurrent requests cannot slip past the
 * cap between the count and the add (a second dashboard replica could add at most one more each).
 *
 * While Redis is slow (a long command, a network that drops packets), the offers wait in a bounded
 * line: each is settled by its deadline, counted from the request's arrival (waiting included),
 * an offer whose deadline has passed when its turn comes is dropped without a command, and the
 * line moves on when the running offer's deadline passes. The commands all go down one connection,
 * so an abandoned add still lands before the next offer's count.
 */
export function createTargetedIntake(queues: Queues, redis: RedisClient, maxPending: number): TargetedIntake {
  const queue = queues[syncOrgJob.queue];
  const check = (orgId: number) =>
    redis.eval(
      CHECK,
      5,
      queue.keys.delayed!,
      queue.keys.prioritized!,
      `${queue.keys.de!}:${targetedSyncKey(orgId)}`,
      `${queue.keys['']!}dn:${targetedSyncKey(orgId)}`,
      queue.keys.active!,
      ...PRIORITY_RANGE,
      String(maxPending),
    ) as Promise<[number, 0 | 1 | 2]>;

  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };

  return {
    offer(orgId, event, deadline = Date.now() + OFFER_TIMEOUT_MS) {
      if (waiting >= MAX_WAITING_OFFERS)
        return Promise.reject(
          new AppError({
            kind: 'redis',
            source: 'redis',
            code: INTAKE_BUSY,
            message: `${MAX_WAITING_OFFERS} webhook events are already waiting for Redis`,
          }),
        );
      waiting++;
      const run = oneAtATime(async () => {
        waiting--;
        if (Date.now() >= deadline) throw late('waiting for earlier webhook events');
        const [, state] = await byDeadline(check(orgId), deadline, 'counting the pending targeted syncs');
        if (state === 2) return 'full';
        if (state === 1) return 'coalesced';
        if (Date.now() >= deadline) throw late('counting the pending targeted syncs');
        await byDeadline(
          enqueue(queues, syncOrgJob, { orgId, trigger: 'webhook', event }, targetedSyncOptions(orgId)),
          deadline,
          'queueing a targeted sync',
        );
        return 'queued' as const;
      });
      return byDeadline(run, deadline, 'waiting for earlier webhook events');
    },
    async pending() {
      return (await withTimeout(check(0), OFFER_TIMEOUT_MS, 'redis', 'counting the pending targeted syncs'))[0];
    },
  };
}
