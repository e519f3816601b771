import type { RedisClient } from '@pcs/queues';
import type { Config } from '@pcs/config';
import { latestCheckResults, type DataSource, type Run } from '@pcs/db';
import { describeError } from '@pcs/errors';
import { AlertEngine, MysqlAlertStore, RedisAlertStore, type AlertRecord } from '@pcs/monitor';
import { distinctWorkers, QUEUE_NAMES, type QueueName, type Queues } from '@pcs/queues';
import { Runs } from '@pcs/sync/runs';
import { targetSince } from '@pcs/sync/target';

/** The `manage status --json` / `GET /api/status` document: what an on-call person asks first. */
export interface StatusDocument {
  generatedAt: string;
  prefix: string;
  queues: Record<
    QueueName,
    { waiting: number; active: number; delayed: number; failed: number; completed: number; paused: boolean }
  >;
  schedulers: {
    queue: QueueName;
    id: string;
    job: string;
    every: number | null;
    pattern: string | null;
    tz: string | null;
    next: string | null;
  }[];
  workers: {
    total: number;
    byQueue: Record<QueueName, number>;
    list: { queue: QueueName; name: string; addr: string; ageSeconds: number }[];
  };
  /** Runs in progress (sync, cleanup, targeted), with their progress and lease: a stuck run shows here. */
  running: RunSummary[];
  lastRuns: { sync: RunSummary | null; lastSuccessfulSync: RunSummary | null; cleanup: RunSummary | null };
  checks: { check: string; status: string; message: string; checkedAt: string }[];
  alerts: { firing: AlertSummary[]; silenced: AlertSummary[] };
  database: { ok: boolean; error?: string };
}

export interface RunSummary {
  runId: string;
  type: string;
  mode: string;
  status: string;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  listingComplete: boolean;
  batchesDone: number;
  batchesTotal: number;
  /** Until when the run counts as alive without progress (running runs only). */
  leaseUntil: string | null;
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  marked: number;
  deleted: number;
  skipped: number;
  errorType: string | null;
  errorMessage: string | null;
  /** The failure's kind (rate_limit, auth, database, …), or `aborted` / `lost` for runs ended from outside. */
  errorKind: string | null;
}

export interface AlertSummary {
  fingerprint: string;
  state: string;
  level: string;
  script: string;
  errorType: string;
  message: string;
  since: string | null;
  lastNotifiedAt: string | null;
  silencedUntil: string | null;
}

export function summarizeRun(r: Run): RunSummary {
  return {
    runId: r.id,
    type: r.type,
    mode: r.mode,
    status: r.status,
    trigger: r.trigger,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    listingComplete: r.listingComplete,
    batchesDone: r.batchesDone,
    batchesTotal: r.batchesTotal,
    leaseUntil: r.status === 'running' ? (r.leaseUntil?.toISOString() ?? null) : null,
    processed: r.processed,
    created: r.created,
    updated: r.updated,
    unchanged: r.unchanged,
    failed: r.failed,
    marked: r.marked,
    deleted: r.deleted,
    skipped: r.skipped,
    errorType: r.errorType,
    errorMessage: r.errorMessage,
    errorKind: r.errorKind,
  };
}

/** An alert as the CLI and the status API show it (a silence that ended shows as none). */
export function summarizeAlert(a: AlertRecord, now = new Date()): AlertSummary {
  return {
    fingerprint: a.fingerprint,
    state: a.state,
    level: a.level,
    script: a.script,
    errorType: a.errorType,
    message: a.message,
    since: a.firstFiredAt?.toISOString() ?? null,
    lastNotifiedAt: a.lastNotifiedAt?.toISOString() ?? null,
    silencedUntil: a.silencedUntil && a.silencedUntil > now ? a.silencedUntil.toISOString() : null,
  };
}

/** Queue side of the status: counts, schedulers with their next run, workers online. Needs only Redis. */
export async function queueStatus(queues: Queues): Promise<Pick<StatusDocument, 'queues' | 'schedulers' | 'workers'>> {
  const counts = {} as StatusDocument['queues'];
  const schedulers: StatusDocument['schedulers'] = [];
  const list: StatusDocument['workers']['list'] = [];
  const byQueue = {} as Record<QueueName, number>;
  await Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const q = queues[name];
      const [c, paused, scheds, workers] = await Promise.all([
        q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
        q.isPaused(),
        q.getJobSchedulers(),
        q.getWorkers(),
      ]);
      counts[name] = {
        waiting: c.waiting ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
        paused,
      };
      for (const s of scheds) {
        schedulers.push({
          queue: name,
          id: s.key,
          job: s.name,
          every: s.every ? Number(s.every) : null,
          pattern: s.pattern ?? null,
          tz: s.tz ?? null,
          next: s.next ? new Date(s.next).toISOString() : null,
        });
      }
      const online = distinctWorkers(workers);
      byQueue[name] = online.length;
      for (const w of online) list.push({ queue: name, ...w });
    }),
  );
  schedulers.sort((a, b) => a.queue.localeCompare(b.queue) || a.id.localeCompare(b.id));
  return {
    queues: counts,
    schedulers,
    workers: { total: new Set(list.map((w) => processOf(w.name))).size, byQueue, list },
  };
}

/** Worker names are `pcs-worker:<queue>:<host>:<pid>`: one process serves several queues. */
function processOf(workerName: string): string {
  const parts = workerName.split(':');
  return parts.length >= 4 && parts[0] === 'pcs-worker' ? parts.slice(2).join(':') : workerName;
}

/** The alert engine as the CLI and the dashboard read it (MySQL, and what Redis holds while MySQL was away). */
export function readAlerts(config: Config, ds: DataSource, redis?: RedisClient): AlertEngine {
  return new AlertEngine({
    primary: new MysqlAlertStore(ds),
    fallback: redis ? new RedisAlertStore(redis, config.redis.prefix) : undefined,
    channel: 'queue',
    repeatHours: config.thresholds.alertRepeatHours,
  });
}

/** Database side of the status: runs in progress and the last ones, latest check results, firing and silenced alerts. */
export async function databaseStatus(
  config: Config,
  ds: DataSource,
  redis?: RedisClient,
  now = new Date(),
): Promise<Pick<StatusDocument, 'running' | 'lastRuns' | 'checks' | 'alerts'>> {
  const runs = new Runs(ds);
  const [running, sync, lastSuccessfulSync, cleanup, checks, alerts] = await Promise.all([
    runs.running(),
    runs.latest('sync'),
    targetSince(ds, config).then((since) => runs.lastSuccessfulSync(since)),
    runs.latest('cleanup'),
    latestCheckResults(ds),
    readAlerts(config, ds, redis).firing(),
  ]);
  const toAlert = (a: AlertRecord) => summarizeAlert(a, now);
  const silenced = alerts.filter((a) => a.silencedUntil && a.silencedUntil > now);
  return {
    running: running.map(summarizeRun),
    lastRuns: {
      sync: sync ? summarizeRun(sync) : null,
      lastSuccessfulSync: lastSuccessfulSync ? summarizeRun(lastSuccessfulSync) : null,
      cleanup: cleanup ? summarizeRun(cleanup) : null,
    },
    checks: checks.map((c) => ({
      check: c.check,
      status: c.status,
      message: c.message,
      checkedAt: c.checkedAt.toISOString(),
    })),
    alerts: { firing: alerts.filter((a) => !silenced.includes(a)).map(toAlert), silenced: silenced.map(toAlert) },
  };
}

/**
 * The whole status. The database part is optional: when the database is down the queue side is
 * still reported, with `database.ok: false` saying why.
 */
export async function buildStatus(deps: {
  config: Config;
  queues: Queues;
  ds: DataSource | undefined;
  redis?: RedisClient;
}): Promise<StatusDocument> {
  const { config, queues, ds, redis } = deps;
  const q = await queueStatus(queues);
  let dbPart: Pick<StatusDocument, 'running' | 'lastRuns' | 'checks' | 'alerts'> = {
    running: [],
    lastRuns: { sync: null, lastSuccessfulSync: null, cleanup: null },
    checks: [],
    alerts: { firing: [], silenced: [] },
  };
  let database: StatusDocument['database'] = { ok: true };
  if (ds) {
    try {
      dbPart = await databaseStatus(config, ds, redis);
    } catch (err) {
      database = { ok: false, error: describeError(err).message };
    }
  } else database = { ok: false, error: 'not connected' };
  return { generatedAt: new Date().toISOString(), prefix: config.redis.prefix, ...q, ...dbPart, database };
}
