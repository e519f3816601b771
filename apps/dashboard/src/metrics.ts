import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RunEntity, AlertStateEntity, type DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { onlineWorkers, QUEUE_NAMES, type Queues } from '@pcs/queues';
import { PARTS, withTimeout, type Health, type Part } from './health.js';

/**
 * Prometheus metrics of the whole deployment (docs/contract.md §4), read from the real sources
 * (BullMQ in Redis, the runs and alert tables) so every dashboard replica reports the same numbers.
 *
 * A scrape does no heavy work: each source (Redis, the database) is read at most once per its TTL,
 * by one computation that concurrent scrapes share, and a scrape waits for a refresh only briefly
 * (the previous values answer meanwhile; only the very first scrape waits for the first reading).
 * An unreachable part shows as `pcs_up{part}` 0 and its metrics are left out; no error text from
 * Redis or MySQL is ever part of the answer.
 */
export interface Metrics {
  readonly contentType: string;
  /** The text of one scrape. Never rejects for Redis or the database. */
  scrape(): Promise<string>;
}

export interface MetricsOptions {
  /** How long a reading of Redis serves scrapes (default 5 s). */
  redisTtlMs?: number;
  /** How long a reading of the database aggregates serves scrapes (default 15 s). */
  databaseTtlMs?: number;
  /** How long a scrape waits for a due refresh before it answers with the previous values (default 50 ms). */
  scrapeWaitMs?: number;
  /** Deadline of one source's reading (default 5 s). */
  readTimeoutMs?: number;
}

type SetFn = (labels: Record<string, string>, v: number) => void;
type Reading = (() => void)[];

export function createMetrics(
  queues: Queues,
  getDs: () => DataSource | undefined,
  health: Health,
  log: Logger,
  opts: MetricsOptions = {},
): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pcs_dashboard_' });
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });

  const up = gauge('pcs_up', 'Whether a part of the deployment answers (1) or not (0), by part: redis, database', [
    'part',
  ]);
  const queueJobs = gauge('pcs_queue_jobs', 'Jobs per queue and state', ['queue', 'state']);
  const queueWorkers = gauge('pcs_queue_workers', 'Workers connected per queue', ['queue']);
  const durations = gauge(
    'pcs_job_duration_seconds',
    'Processing time of the most recent completed jobs per queue (up to 100), by statistic',
    ['queue', 'stat'],
  );
  const runs = gauge('pcs_runs', 'Sync and cleanup runs by type and status', ['type', 'status']);
  const records = gauge('pcs_sync_records', 'Records handled by sync runs, by outcome (sum over stored runs)', [
    'outcome',
  ]);
  const alerts = gauge('pcs_alerts', 'Alert notifications sent (sum of notify counts) and alerts firing now', ['kind']);

  const readTimeoutMs = opts.readTimeoutMs ?? 5_000;
  const sources: Record<Part, Source> = {
    redis: source('redis', opts.redisTtlMs ?? 5_000, [queueJobs, queueWorkers, durations], () =>
      readRedis(queues, queueJobs, queueWorkers, durations),
    ),
    database: source('database', opts.databaseTtlMs ?? 15_000, [runs, records, alerts], () => {
      const ds = getDs();
      if (!ds?.isInitialized) throw new Error('database not connected');
      return readDatabase(ds, runs, records, alerts);
    }),
  };

  interface Source {
    /**
     * Resolves when the gauges hold a reading no older than the TTL taken while the part was as
     * `isUp` says (a part that went down is left out at once; one that came back is read at once).
     * Never rejects.
     */
    fresh(isUp: boolean): Promise<void>;
  }

  /**
   * One part's gauges, refreshed single-flight: the reading is gathered first and applied in one
   * synchronous step, so a scrape never sees half of it.
   */
  function source(part: Part, ttlMs: number, gauges: Gauge[], read: () => Promise<Reading>): Source {
    let at = 0;
    let readWhileUp: boolean | undefined;
    let inflight: Promise<void> | undefined;
    let lastWarn = 0;
    const refresh = async (isUp: boolean) => {
      let reading: Reading | undefined;
      if (isUp) {
        try {
          reading = await withTimeout(read(), readTimeoutMs, part, `reading the ${part} metrics`);
        } catch (err) {
          if (Date.now() - lastWarn > 60_000) log.warn({ err, part }, `metrics: could not read ${part}`);
          lastWarn = Date.now();
        }
      }
      for (const g of gauges) g.reset();
      for (const apply of reading ?? []) apply();
      at = Date.now();
      readWhileUp = isUp;
    };
    return {
      fresh(isUp) {
        if (readWhileUp === isUp && Date.now() - at < ttlMs) return Promise.resolve();
        inflight ??= refresh(isUp)
          .catch((err: unknown) => log.warn({ err, part }, 'metrics refresh failed'))
          .finally(() => (inflight = undefined));
        return inflight;
      },
    };
  }

  const scrapeWaitMs = opts.scrapeWaitMs ?? 50;
  let answeredOnce = false;
  return {
    contentType: registry.contentType,
    async scrape() {
      const due = (async () => {
        const isUp = await health.check();
        for (const part of PARTS) up.set({ part }, isUp[part] ? 1 : 0);
        await Promise.all(PARTS.map((part) => sources[part].fresh(isUp[part])));
      })();
      if (answeredOnce) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([due, new Promise((r) => (timer = setTimeout(r, scrapeWaitMs)))]);
        clearTimeout(timer);
      } else await due;
      answeredOnce = true;
      return registry.metrics();
    },
  };
}

/** Job counts, workers and recent durations of every queue: a handful of Redis round trips. */
async function readRedis(queues: Queues, jobs: Gauge, workers: Gauge, durations: Gauge): Promise<Reading> {
  const out: Reading = [];
  const set =
    (g: Gauge): SetFn =>
    (labels, v) =>
      out.push(() => g.set(labels, v));
  await Promise.all(
    QUEUE_NAMES.map(async (q) => {
      const [counts, online, done] = await Promise.all([
        queues[q].getJobCounts(
          'waiting',
          'active',
          'delayed',
          'failed',
          'completed',
          'prioritized',
          'waiting-children',
        ),
        onlineWorkers(queues[q]),
        queues[q].getJobs(['completed'], 0, 99, false),
      ]);
      for (const [state, n] of Object.entries(counts)) set(jobs)({ queue: q, state }, n ?? 0);
      set(workers)({ queue: q }, online.length);
      const secs = done
        .filter((j) => j.processedOn && j.finishedOn)
        .map((j) => (j.finishedOn! - j.processedOn!) / 1000)
        .sort((a, b) => a - b);
      if (!secs.length) return;
      const pick = (p: number) => secs[Math.min(secs.length - 1, Math.floor(p * secs.length))]!;
      const stat = set(durations);
      stat({ queue: q, stat: 'avg' }, secs.reduce((a, b) => a + b, 0) / secs.length);
      stat({ queue: q, stat: 'p50' }, pick(0.5));
      stat({ queue: q, stat: 'p95' }, pick(0.95));
      stat({ queue: q, stat: 'max' }, secs[secs.length - 1]!);
    }),
  );
  return out;
}

/** The run and alert aggregates: three statements, read at most once per database TTL. */
async function readDatabase(ds: DataSource, runs: Gauge, records: Gauge, alerts: Gauge): Promise<Reading> {
  const out: Reading = [];
  const set =
    (g: Gauge): SetFn =>
    (labels, v) =>
      out.push(() => g.set(labels, v));
  const outcomeColumns = {
    created: 'created',
    updated: 'updated',
    unchanged: 'unchanged',
    adopted: 'adopted',
    warning: 'warnings',
    failed: 'failed',
  };
  const recordsQuery = ds
    .getRepository(RunEntity)
    .createQueryBuilder('r')
    .select('COUNT(*)', 'runs')
    .where('r.type = :t', { t: 'sync' });
  for (const [outcome, column] of Object.entries(outcomeColumns))
    recordsQuery.addSelect(`COALESCE(SUM(r.${column}),0)`, outcome);

  const [runRows, recordRow, alertRow] = await Promise.all([
    ds
      .getRepository(RunEntity)
      .createQueryBuilder('r')
      .select('r.type', 'type')
      .addSelect('r.status', 'status')
      .addSelect('COUNT(*)', 'n')
      .groupBy('r.type')
      .addGroupBy('r.status')
      .getRawMany() as Promise<{ type: string; status: string; n: string }[]>,
    recordsQuery.getRawOne() as Promise<Record<string, string> | undefined>,
    ds
      .getRepository(AlertStateEntity)
      .createQueryBuilder('a')
      .select('COALESCE(SUM(a.notify_count),0)', 'sent')
      .addSelect("COALESCE(SUM(CASE WHEN a.state = 'firing' THEN 1 ELSE 0 END),0)", 'firing')
      .getRawOne() as Promise<{ sent: string; firing: string } | undefined>,
  ]);
  for (const r of runRows) set(runs)({ type: r.type, status: r.status }, Number(r.n));
  for (const outcome of Object.keys(outcomeColumns)) set(records)({ outcome }, Number(recordRow?.[outcome] ?? 0));
  set(alerts)({ kind: 'sent' }, Number(alertRow?.sent ?? 0));
  set(alerts)({ kind: 'firing' }, Number(alertRow?.firing ?? 0));
  return out;
}
