import type { Config } from '@pcs/config';
import {
  AlertStateEntity,
  In,
  latestCheckResults,
  RunEntity,
  type AlertState,
  type DataSource,
  type Run,
} from '@pcs/db';
import { QUEUE_NAMES, type QueueName, type Queues } from '@pcs/queues';

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
  startedAt: string;
  finishedAt: string | null;
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
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
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
  };
}

/** An alert as the CLI and the status API show it (a silence that ended shows as none). */
export function summarizeAlert(a: AlertState, now = new Date()): AlertSummary {
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

/**
 * BullMQ lists every connection of a worker (its command and blocking connections); our worker
 * name follows ':w:' in the raw client name, so one entry per worker remains.
 */
export function distinctWorkers(
  clients: Record<string, string>[],
): { name: string; addr: string; ageSeconds: number }[] {
  const seen = new Map<string, { name: string; addr: string; ageSeconds: number }>();
  for (const c of clients) {
    const raw = String(c.rawname ?? c.name ?? '');
    const own = raw.includes(':w:') ? raw.slice(raw.indexOf(':w:') + 3) : raw;
    if (!seen.has(own)) seen.set(own, { name: own, addr: String(c.addr ?? ''), ageSeconds: Number(c.age ?? 0) });
  }
  return [...seen.values()];
}

/** Worker names are `pcs-worker:<queue>:<host>:<pid>`: one process serves several queues. */
function processOf(workerName: string): string {
  const parts = workerName.split(':');
  return parts.length >= 4 && parts[0] === 'pcs-worker' ? parts.slice(2).join(':') : workerName;
}

/** Database side of the status: last runs, latest check results, firing and silenced alerts. */
export async function databaseStatus(
  ds: DataSource,
  now = new Date(),
): Promise<Pick<StatusDocument, 'lastRuns' | 'checks' | 'alerts'>> {
  const runs = ds.getRepository(RunEntity);
  const [sync, lastSuccessfulSync, cleanup, checks, alerts] = await Promise.all([
    runs.findOne({ where: { type: 'sync', mode: In(['full', 'incremental']) }, order: { startedAt: 'DESC' } }),
    runs.findOne({
      where: { type: 'sync', mode: In(['full', 'incremental']), status: In(['succeeded', 'partial']) },
      order: { finishedAt: 'DESC' },
    }),
    runs.findOne({ where: { type: 'cleanup' }, order: { startedAt: 'DESC' } }),
    latestCheckResults(ds),
    ds.getRepository(AlertStateEntity).find({ where: { state: 'firing' }, order: { firstFiredAt: 'ASC' } }),
  ]);
  const toAlert = (a: AlertState) => summarizeAlert(a, now);
  const silenced = alerts.filter((a) => a.silencedUntil && a.silencedUntil > now);
  return {
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
export async function buildStatus(config: Config, queues: Queues, ds: DataSource | undefined): Promise<StatusDocument> {
  const q = await queueStatus(queues);
  let dbPart: Pick<StatusDocument, 'lastRuns' | 'checks' | 'alerts'> = {
    lastRuns: { sync: null, lastSuccessfulSync: null, cleanup: null },
    checks: [],
    alerts: { firing: [], silenced: [] },
  };
  let database: StatusDocument['database'] = { ok: true };
  if (ds) {
    try {
      dbPart = await databaseStatus(ds);
    } catch (err) {
      database = { ok: false, error: (err as Error).message };
    }
  } else database = { ok: false, error: 'not connected' };
  return { generatedAt: new Date().toISOString(), prefix: config.redis.prefix, ...q, ...dbPart, database };
}
