import type { Job } from 'bullmq';
import type { Run } from '@pcs/db';
import { isServiceUnreachable } from '@pcs/db';
import { describeError, type ErrorKind } from '@pcs/errors';
import { alertJob, batchJobId } from '@pcs/jobs';
import { enqueue, LIVE_JOB_STATES, reconcileSchedulers, type QueueName, type WantedSchedule } from '@pcs/queues';
import { reapRuns, sweepRunAlerts, type Liveness, type RunFailure, type RunInspector } from '@pcs/sync';
import type { WorkerContext } from './context.js';

/**
 * What every worker does on timers, besides its jobs, so that no state waits on a job that may
 * itself be lost (docs/contract.md §6a):
 * - the reaper ends runs that can no longer end by themselves, and evaluates the alerts of runs
 *   whose evaluation was lost;
 * - the scheduler reconciler recreates job schedulers Redis lost, with a WARNING;
 * - the relay moves committed alerts (the engine's outbox) to the notifications queue.
 */

/** The alert saying scheduled work was lost (Redis lost its data). */
export const SCHEDULERS_FINGERPRINT = 'monitor:schedulers';

interface Timer {
  /** No more rounds; resolves when the round under way (if any) has ended. */
  stop(): Promise<void>;
  /** One round now (tests and the relay's kick). */
  kick(): Promise<void>;
}

/** How long a stop waits for a round under way. */
const STOP_WAIT_MS = 5_000;

/** Runs `round` every `ms`, never two rounds at once; a failing round is reported and tried again next time. */
function every(ms: number, round: () => Promise<void>, onError: (err: unknown) => void): Timer {
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return Promise.resolve();
    running ??= round()
      .catch((err: unknown) => {
        try {
          onError(err);
        } catch {
          // Reporting must never take the process down (a log closed by a stop, say).
        }
      })
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void tick(), ms);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A round stuck on an away database is not waited for long: the stop has its own bound.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((r) => (bound = setTimeout(r, STOP_WAIT_MS)))]);
      clearTimeout(bound);
    },
    kick: tick,
  };
}

/** A failed job's typed failure: recorded by our handler (see handlers/queue-errors.ts), else inferred from BullMQ's own end. */
function failureOfJob(job: Job, what: string): RunFailure {
  const recorded = (job.progress as { failure?: { kind?: string; source?: string; message?: string } } | undefined)
    ?.failure;
  if (recorded?.kind)
    return {
      kind: recorded.kind as ErrorKind,
      source: recorded.source as RunFailure['source'],
      message: `${what} failed for good: ${recorded.message ?? job.failedReason}`,
    };
  // BullMQ failed it without our handler saying why: its worker died holding it, more often than allowed.
  return {
    kind: 'lost',
    message: `${what} failed for good: ${job.failedReason || 'its worker stopped while holding it'}`,
  };
}

/** Reads a run's BullMQ jobs: any job that will still run keeps the run alive. */
export function runInspector(ctx: WorkerContext): RunInspector {
  return async (run: Run): Promise<Liveness> => {
    const queue: QueueName = run.type === 'cleanup' ? 'cleanup' : 'sync';
    const jobs: { id: string; what: string }[] = [];
    if (run.mode !== 'webhook' && run.type === 'sync' && run.listingComplete) {
      const ended = await ctx.runs.endedBatches(run.id);
      for (let b = 0; b < run.batchesTotal; b++)
        if (!ended.has(b)) jobs.push({ id: batchJobId(run.id, b), what: `batch ${b}` });
    } else if (run.jobId) {
      jobs.push({
        id: run.jobId,
        what:
          run.type === 'cleanup'
            ? 'its cleanup job'
            : run.mode === 'webhook'
              ? 'its targeted upsert'
              : 'its listing job',
      });
    }
    if (!jobs.length)
      return {
        alive: false,
        failure: {
          kind: 'lost',
          message: 'no job carries this run any more (started by an older version, or its jobs are gone)',
        },
      };
    let firstDead: RunFailure | undefined;
    for (const { id, what } of jobs) {
      const job = await ctx.queues[queue].getJob(id);
      const state = job ? await job.getState() : 'missing';
      // A targeted upsert whose job waits for a retry starts a new run: its old one is over.
      if (LIVE_JOB_STATES.has(state) && (run.mode !== 'webhook' || state === 'active')) return { alive: true };
      firstDead ??=
        state === 'failed'
          ? failureOfJob(job!, what)
          : {
              kind: 'lost',
              message: `${what} is gone from the ${queue} queue (${state}): Redis lost it, or it was removed`,
            };
    }
    return { alive: false, failure: firstDead! };
  };
}

export interface Upkeep {
  reaper: Timer;
  schedulers: Timer;
  relay: Timer;
  /** No more rounds; resolves when the rounds under way have ended. */
  stop(): Promise<void>;
}

export function startUpkeep(
  ctx: WorkerContext,
  wanted: readonly WantedSchedule[],
  served: readonly QueueName[],
): Upkeep {
  const log = ctx.loggers.get('worker');
  const alertsLog = ctx.loggers.get('alerts');
  let lastError = 0;
  const quietly = (what: string) => (err: unknown) => {
    // Redis or the database away: said once a minute, not on every tick.
    if (isServiceUnreachable(err) && Date.now() - lastError < 60_000) return;
    lastError = Date.now();
    log.warn({ err, errorKind: describeError(err).kind }, `${what} could not run this time`);
  };
  // The reaper needs no API client: a notifications-only worker reaps too.
  const deps = { runs: ctx.runs, config: ctx.config, log: ctx.loggers.get('sync'), onRunEnded: ctx.onRunEnded };

  const reaper = every(
    ctx.timing.reaperIntervalMs,
    async () => {
      const reaped = await reapRuns(deps, runInspector(ctx));
      const ended = reaped.filter((r) => r.outcome !== 'alive');
      if (ended.length) log.warn({ runs: ended }, `reaper ended ${ended.length} run(s)`);
      await sweepRunAlerts(deps);
    },
    quietly('the run reaper'),
  );

  const schedulers = every(
    ctx.timing.reconcileIntervalMs,
    async () => {
      const changes = await reconcileSchedulers(ctx.queues, wanted, served, 'heal');
      const recreated = changes.filter((c) => c.action === 'recreated').map((c) => c.id);
      if (recreated.length) {
        log.warn({ recreated }, 'job schedulers were missing (Redis lost its data?): recreated');
        await schedulersLost(ctx, recreated);
      } else {
        await ctx.alerts.observe(SCHEDULERS_FINGERPRINT, null);
      }
    },
    quietly('the scheduler reconciler'),
  );

  const relay = every(
    ctx.timing.relayIntervalMs,
    async () => {
      await ctx.alerts.relay(async (alert, id) => {
        // The job id comes from the outbox entry: relaying it twice queues it once.
        await enqueue(ctx.queues, alertJob, alert, { jobId: `alert-${id}` });
        alertsLog.info(
          { fingerprint: alert.fingerprint, state: alert.state, level: alert.level, error_type: alert.error_type },
          `alert queued: ${alert.message.slice(0, 200)}`,
        );
      });
    },
    quietly('the alert relay'),
  );

  return {
    reaper,
    schedulers,
    relay,
    async stop() {
      await Promise.all([reaper.stop(), schedulers.stop(), relay.stop()]);
    },
  };
}

/** Fires the WARNING that scheduled work was lost (one incident however many workers notice). */
export async function schedulersLost(ctx: WorkerContext, recreated: string[]): Promise<void> {
  await ctx.alerts.observe(SCHEDULERS_FINGERPRINT, {
    fingerprint: SCHEDULERS_FINGERPRINT,
    script: 'monitor',
    level: 'WARNING',
    errorType: 'system error',
    message: `Scheduled work was lost: Redis lost its data (a restart without persistence, a failover, a FLUSHALL). Job schedulers recreated: ${recreated.join(', ')}; runs in progress are ended by the reaper and the next ones start on schedule`,
    details: { recreated },
  });
}
