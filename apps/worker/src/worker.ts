import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { Job, Worker, WorkerOptions as BullWorkerOptions } from 'bullmq';
import type { Config } from '@pcs/config';
import { openDatabase } from '@pcs/db';
import { batchJobId, BATCH_PRIORITY, syncBatchJob, wantedSchedules } from '@pcs/jobs';
import { createLoggers, type Loggers } from '@pcs/logger';
import { AlertEngine, evaluateRunAlerts, MysqlAlertStore, RedisAlertStore } from '@pcs/monitor';
import {
  closeQueues,
  createDispatchingWorker,
  createQueues,
  createRedis,
  describeRedis,
  enqueue,
  MetricsRecorder,
  reconcileSchedulers,
  type HandlerEntry,
  type QueueName,
} from '@pcs/queues';
import { Runs, type SyncDeps } from '@pcs/sync';
import { countApiResponses, createApis, type Apis } from './apis.js';
import { DEFAULT_TIMING, type WorkerContext, type WorkerTiming } from './context.js';
import { createHandlers, handlerEntries } from './handlers/index.js';
import { schedulersLost, startUpkeep, type Upkeep } from './upkeep.js';

export interface WorkerOptions {
  /** Replaces the built-in handlers (tests). */
  handlers?: (ctx: WorkerContext) => HandlerEntry[];
  /** How long a graceful stop waits for jobs in flight before it forces the workers closed. */
  shutdownTimeoutMs?: number;
  /** Shorter timings (tests); production uses DEFAULT_TIMING. */
  timing?: Partial<WorkerTiming>;
  loggers?: Loggers;
  console?: 'stdout' | 'stderr' | false;
}

export interface RunningWorker {
  ctx: WorkerContext;
  workers: Worker[];
  upkeep: Upkeep;
  /** Stops taking jobs, lets jobs in flight finish (bounded), closes every connection. */
  stop(reason?: string): Promise<{ forced: boolean }>;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

/**
 * Per-queue worker settings. Sync batches wait on two APIs, so a worker runs several at once;
 * the limiter is what BullMQ's shared rate limit (queue.rateLimit on a 429) works with.
 */
const QUEUE_WORKER_OPTIONS: Partial<Record<QueueName, Partial<BullWorkerOptions>>> = {
  sync: { concurrency: 4, limiter: { max: 200, duration: 1_000 } },
  cleanup: { concurrency: 1 },
  monitor: { concurrency: 2 },
  notifications: { concurrency: 1, limiter: { max: 1, duration: 1_000 } },
};

/** Set on a prefix's first worker start: its absence later, with history in the database, means Redis lost its data. */
const installedKey = (prefix: string) => `${prefix}:meta:installed`;

export async function startWorker(config: Config, opts: WorkerOptions = {}): Promise<RunningWorker> {
  // Log file names (docs/contract.md §7): a process serving only monitor/notifications is `monitor-<host>`.
  const role = config.workerQueues.some((q) => q === 'sync' || q === 'cleanup') ? 'worker' : 'monitor';
  const loggers = opts.loggers ?? (await createLoggers(config, { console: opts.console, role }));
  const log = loggers.get('worker');
  const timing: WorkerTiming = { ...DEFAULT_TIMING, ...opts.timing };
  log.info(
    { queues: config.workerQueues, prefix: config.redis.prefix, redis: describeRedis(config.redis) },
    'worker starting',
  );
  if (!config.alerts.googleChatWebhook && !config.alerts.webhookUrl && !config.alerts.email)
    log.warn(
      'no alert channel is set (SUPPORT_GOOGLE_CHAT, ALERT_WEBHOOK_URL, or ALERT_EMAIL_TO with SMTP_URL): alerts are evaluated and written to alerts.log only',
    );

  const { ds, migrations } = await openDatabase(config.database);
  if (migrations.applied.length) log.info({ applied: migrations.applied }, 'database migrations applied');

  const redis = createRedis(config.redis, 'worker');
  const producer = createRedis(config.redis, 'producer');
  let lastRedisError = 0;
  for (const conn of [redis, producer]) {
    conn.on('error', (err: Error) => {
      if (Date.now() - lastRedisError > 10_000) log.error({ err }, 'Redis connection error');
      lastRedisError = Date.now();
    });
  }
  const queues = createQueues(producer, config.redis.prefix);
  // pcs_api_requests_total and pcs_job_duration_seconds (docs/contract.md §4), added to Redis once a second.
  let lastMetricsError = 0;
  const metrics = new MetricsRecorder(producer, config.redis.prefix, {
    onError: (err) => {
      if (Date.now() - lastMetricsError > 60_000) log.warn({ err }, 'could not add to the metrics counters');
      lastMetricsError = Date.now();
    },
  });
  const stopCountingApis = countApiResponses(metrics);
  let stopping: Promise<{ forced: boolean }> | undefined;
  let apis: Apis | undefined;
  let upkeep: Upkeep | undefined = undefined;
  const runs = new Runs(ds, {
    retryBudgetMs: timing.retryBudgetMs,
    leaseSeconds: timing.leaseSeconds,
    log: loggers.get('sync'),
  });
  const alerts = new AlertEngine({
    primary: new MysqlAlertStore(ds),
    fallback: new RedisAlertStore(producer, config.redis.prefix),
    channel: 'queue',
    repeatHours: config.thresholds.alertRepeatHours,
    log: loggers.get('alerts'),
    // A committed alert goes to the queue at once, not at the relay's next tick.
    onQueued: () => void upkeep?.relay.kick(),
  });
  const ctx: WorkerContext = {
    config,
    loggers,
    ds,
    queues,
    redis: producer,
    runs,
    alerts,
    timing,
    onRunEnded: (run) => evaluateRunAlerts(alerts, run, config),
    apis: () => (apis ??= createApis(config, producer, loggers.get('sync'))),
    sync: (): SyncDeps => {
      const a = ctx.apis();
      return {
        config,
        ds,
        runs,
        redis: producer,
        pipedrive: a.pipedrive,
        chatwoot: a.chatwoot,
        log: loggers.get('sync'),
        retryBudgetMs: timing.retryBudgetMs,
        onRunEnded: ctx.onRunEnded,
        enqueueBatch: (data) =>
          enqueue(queues, syncBatchJob, data, { jobId: batchJobId(data.runId, data.batch), priority: BATCH_PRIORITY }),
      };
    },
  };
  const entries = opts.handlers ? opts.handlers(ctx) : handlerEntries(createHandlers(ctx));

  // Schedulers from configuration (a changed interval or cron replaces the old one). Only jobs
  // this worker has a handler for are scheduled (tests replace the handlers).
  const implemented = new Set(entries.map((e) => e.definition.name));
  const served = config.workerQueues;
  const wanted = wantedSchedules(config, served).filter((w) => implemented.has(w.name));
  const changes = await reconcileSchedulers(queues, wanted, served, 'apply');
  log.info({ schedulers: changes }, 'job schedulers in place');
  // A prefix that forgot it was ever installed, next to a database with history: Redis lost its data.
  const firstOnPrefix =
    (await producer.set(installedKey(config.redis.prefix), new Date().toISOString(), 'NX')) === 'OK';
  if (firstOnPrefix && (await runs.latest('sync')))
    await schedulersLost(
      ctx,
      changes.filter((c) => c.action === 'upserted').map((c) => c.id),
    ).catch((err: unknown) => log.warn({ err }, 'could not raise the lost-schedulers alert'));

  // Jobs in flight, so that a stop past its bound can hand them back to the queue at once.
  const inFlight = new Map<string, Job>();
  const workers = served.map((queue) => {
    const w = createDispatchingWorker(
      queue,
      entries,
      redis,
      config.redis.prefix,
      { lockDuration: timing.jobLockMs, stalledInterval: timing.jobLockMs, ...QUEUE_WORKER_OPTIONS[queue] },
      metrics,
    );
    const qlog = loggers.get('worker').child({ queue });
    const key = (job: Job) => `${queue}:${job.id}`;
    w.on('active', (job) => inFlight.set(key(job), job));
    w.on('completed', (job) => inFlight.delete(key(job)));
    w.on('failed', (job, err) => {
      if (job) inFlight.delete(key(job));
      qlog.warn({ jobId: job?.id, job: job?.name, attemptsMade: job?.attemptsMade, err }, 'job failed');
    });
    w.on('error', (err) => {
      if (!stopping) qlog.error({ err }, 'worker error');
    });
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const running = startUpkeep(ctx, wanted, served);
  upkeep = running;
  log.info({ queues: served, handlers: entries.map((e) => e.definition.name) }, 'worker ready');
  const heartbeat = startHeartbeat(
    config.workerHealthFile,
    () => !stopping && redis.status === 'ready' && workers.every((w) => w.isRunning()),
    log,
  );

  const stop = (reason = 'stop requested') => {
    stopping ??= (async () => {
      log.info({ reason }, 'worker stopping: no new jobs, waiting for jobs in flight');
      heartbeat.stop();
      // The upkeep's rounds end before the connections and logs they use close.
      await running.stop();
      const timeoutMs = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
      let forced = false;
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close()));
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      if ((await Promise.race([graceful, deadline])) === 'timeout') {
        forced = true;
        // Hand the unfinished jobs back to the queue (no attempt spent) and abort their handlers;
        // a job we cannot move keeps its lock until it expires, then another worker resumes it.
        const jobs = [...inFlight.values()];
        log.warn(
          { timeoutMs, jobs: jobs.map((j) => ({ queue: j.queueName, id: j.id, name: j.name })) },
          'jobs still running at the shutdown bound: returning them to their queue',
        );
        await Promise.allSettled(jobs.map((j) => j.moveToWait(j.token)));
        for (const w of workers) w.cancelAllJobs('worker shutting down');
      }
      clearTimeout(timer);
      stopCountingApis();
      await metrics.close();
      await closeQueues(queues);
      redis.disconnect();
      producer.disconnect();
      await ds.destroy().catch(() => undefined);
      log.info({ forced }, 'worker stopped');
      if (!opts.loggers) await loggers.close();
      return { forced };
    })();
    return stopping;
  };

  return { ctx, workers, upkeep: running, stop };
}

export const HEARTBEAT_INTERVAL_MS = 10_000;

/**
 * The container healthcheck's signal (`infra/docker/healthcheck.mjs file <path>`): the file's
 * mtime moves every 10 s while the worker is healthy, and stops moving when its event loop is
 * stuck, Redis is gone or a queue's worker stopped. Removed on a clean stop.
 */
function startHeartbeat(
  file: string | undefined,
  healthy: () => boolean,
  log: { warn: (o: object, m: string) => void },
) {
  if (!file) return { stop() {} };
  let warned = false;
  const beat = () => {
    if (!healthy()) return;
    const now = new Date();
    try {
      try {
        utimesSync(file, now, now);
      } catch {
        writeFileSync(file, `${process.pid}\n`);
      }
    } catch (err) {
      if (!warned) log.warn({ err, file }, 'cannot write WORKER_HEALTH_FILE');
      warned = true;
    }
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      rmSync(file, { force: true });
    },
  };
}
