import { RunEntity, type Run } from '../../packages/db/src/index.js';
import type { GChatMessage } from '@pcs/simulator';
import type { TestStack } from '../support/stack.js';
import { waitFor } from '../support/index.js';

/**
 * Shared pieces of the chaos suite: each test owns its fault (a redis-server of its own, a proxy
 * in front of MariaDB, a killed process) and asserts what an operator would see: runs that end,
 * contacts that are right, and the messages Google Chat got.
 */

/** Schedules that never fire during a test: the test starts the work it needs. */
export const QUIET_SCHEDULES = { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', MONITOR_CRON: '0 0 1 1 *' };

/** Timings short enough for a test, with the same mechanics as production (see WorkerTiming). */
export const FAST = { leaseSeconds: 5, reaperIntervalMs: 1_000, relayIntervalMs: 1_000 };

/** Google Chat messages of one incident (its fingerprint is the thread key), as states. */
export function incident(stack: TestStack, fingerprint: string): ('firing' | 'resolved')[] {
  return stack.sim.gchat
    .messages()
    .filter((m) => m.threadKey === fingerprint)
    .map((m) => (/^✅ RESOLVED/.test(m.fallbackText ?? '') ? 'resolved' : 'firing'));
}

export function messagesMatching(stack: TestStack, re: RegExp): GChatMessage[] {
  return stack.sim.gchat.messages().filter((m) => re.test(m.fallbackText ?? ''));
}

/** Waits for a run to reach a condition (read straight from the database, not through the worker). */
export async function runWhere(
  stack: TestStack,
  runId: string,
  ok: (run: Run) => boolean,
  timeoutMs = 60_000,
  what = 'the run',
): Promise<Run> {
  const ds = await stack.ds();
  return waitFor(
    async () => {
      const run = await ds.getRepository(RunEntity).findOneBy({ id: runId });
      return run && ok(run) ? run : undefined;
    },
    { timeoutMs, intervalMs: 100, what },
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds since `t`, to one decimal (the figures the closing note reports). */
export const since = (t: number) => Math.round((Date.now() - t) / 100) / 10;
