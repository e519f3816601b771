import type { Redis } from 'ioredis';
import { syncOrgJob, targetedSyncKey, targetedSyncOptions, WEBHOOK_PRIORITY } from '@pcs/jobs';
import { enqueue, type Queues } from '@pcs/queues';
import { withTimeout } from './health.js';

/**
 * What became of one organization's event:
 * - `queued`: added (a new pending targeted sync, or coalesced by BullMQ into the one pending);
 * - `coalesced`: the intake is full, but this organization's sync is already pending and has not
 *   started, so it will read the edit anyway: nothing to add;
 * - `full`: WEBHOOK_MAX_PENDING targeted syncs are pending; the caller answers 429.
 */
export type Offer = 'queued' | 'coalesced' | 'full';

export interface TargetedIntake {
  offer(orgId: number, event: string): Promise<Offer>;
  /** Targeted syncs pending now, as the cap counts them. */
  pending(): Promise<number>;
}

/**
 * One round trip, O(log n): the pending count is the sync queue's delayed set (targeted syncs
 * wait there for their coalescing delay; the set also holds the next scheduled run and retry
 * backoffs, a handful, so the count errs on the side of the bound) plus its prioritized jobs of
 * the webhook priority (targeted syncs due now; batches run at another priority). When the count
 * has reached the cap, it also says whether this organization has a sync that has not started.
 *
 * KEYS: delayed, prioritized, deduplication key of the org. ARGV: lowest and highest prioritized
 * score of the webhook priority, cap. Returns { pending, 0 room | 1 org pending | 2 full }.
 */
const CHECK = `
local pending = redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], ARGV[1], ARGV[2])
if pending < tonumber(ARGV[3]) then return { pending, 0 } end
local id = redis.call('GET', KEYS[3])
if id and (redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)) then return { pending, 1 } end
return { pending, 2 }
`;

/** BullMQ's prioritized score is priority * 2^32 + a counter. */
const PRIORITY_RANGE = [WEBHOOK_PRIORITY * 0x100000000, (WEBHOOK_PRIORITY + 1) * 0x100000000 - 1].map(String);
const STEP_TIMEOUT_MS = 5_000;

/**
 * The webhook intake's way into the sync queue (docs/contract.md §3 WEBHOOK_MAX_PENDING): one
 * pending targeted sync per organization (see targetedSyncOptions), and at most `maxPending` of
 * them. Offers are made one at a time in this process, so concurrent requests cannot slip past the
 * cap between the count and the add (a second dashboard replica could add at most one more each).
 */
export function createTargetedIntake(queues: Queues, redis: Redis, maxPending: number): TargetedIntake {
  const queue = queues[syncOrgJob.queue];
  const check = async (orgId: number) =>
    (await withTimeout(
      redis.eval(
        CHECK,
        3,
        queue.keys.delayed!,
        queue.keys.prioritized!,
        `${queue.keys.de!}:${targetedSyncKey(orgId)}`,
        ...PRIORITY_RANGE,
        String(maxPending),
      ) as Promise<[number, 0 | 1 | 2]>,
      STEP_TIMEOUT_MS,
      'redis',
      'counting the pending targeted syncs',
    )) as [number, 0 | 1 | 2];

  let tail: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };

  return {
    offer(orgId, event) {
      return oneAtATime(async () => {
        const [, state] = await check(orgId);
        if (state === 2) return 'full';
        if (state === 1) return 'coalesced';
        await withTimeout(
          enqueue(queues, syncOrgJob, { orgId, trigger: 'webhook', event }, targetedSyncOptions(orgId)),
          STEP_TIMEOUT_MS,
          'redis',
          'queueing a targeted sync',
        );
        return 'queued';
      });
    },
    async pending() {
      return (await check(0))[0];
    },
  };
}
