import type { RedisClient } from '@pcs/queues';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { METRIC_COUNTERS, readCounters, RunHistory, type CounterName } from '@pcs/sync/runs';
import { targetSince } from '@pcs/sync/target';
import { onlineWorkers, QUEUE_NAMES, readMetricCounters, type JobDurationHistogram, type Queues } from '@pcs/queues';
import { PARTS, withTimeout, type Health, type Part } from './health.js';

/**
 * Prometheus metrics of the whole deployment (docs/contract.md §4), read from the real sources
 * (BullMQ in Redis; the counters table, the alert states and the last successful sync in the
 * database) so every dashboard replica reports the same numbers. The counters
 * (`pcs_sync_runs_total`, `pcs_sync_records_total`, `pcs_cleanup_runs_total`,
 * `pcs_alerts_sent_total`) are kept in the database by whoever does the work (the runs module, the
 * alert delivery: packages/sync/src/runs/counters.ts) and only shown here, as counters: they
 * survive a dashboard restart, and pruning old runs never lowers them. `pcs_api_requests_total`
 * and the histogram `pcs_job_duration_seconds` are counted by the workers in Redis
 * (packages/queues/src/counters.ts) and only shown here too.
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
  /** How long a reading of the database serves scrapes (default 15 s). */
  databaseTtlMs?: number;
  /** The sync target (the last successful sync counts runs since it became the target); every run when absent. */
  target?: Pick<Config, 'pipedrive' | 'chatwoot'>;
  /** How long a scrape waits for a due refresh before it answers with the previous values (default 50 ms). */
  scrapeWaitMs?: number;
  /** Deadline of one source's reading (default 5 s). */
  readTimeoutMs?: number;
  /**
   * Where the workers keep pcs_api_requests_total and pcs_job_duration_seconds (the Redis and the
   * queue prefix of the queues); both are left out without it.
   */
  counters?: { redis: RedisClient; prefix: string };
}

type SetFn = (labels: Record<string, string>, v: number) => void;
type Reading = (() => void)[];
/** A metric a source fills: emptied before each reading is applied. */
interface Filled {
  reset(): void;
}

const ALERT_LEVELS = ['ERROR', 'WARNING', 'INFO'];

export function createMetrics(
  queues: Queues,
  getDs: () => DataSource | undefined,
  health: Health,
  log: Logger,
  opts: MetricsOptions = {},
): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pcs_dashboard_' });
  // prom-client's `*_active_{handles,requests,resources}_total` are gauges, which `promtool check
  // metrics` refuses ("non-counter metrics should not have _total suffix"); the same numbers stay
  // as the by-type gauges `pcs_dashboard_nodejs_active_{handles,requests,resources}`.
  for (const kind of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`pcs_dashboard_nodejs_active_${kind}_total`);
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });

  const up = gauge('pcs_up', 'Whether a part of the deployment answers (1) or not (0), by part: redis, database', [
    'part',
  ]);
  const queueJobs = gauge('pcs_queue_jobs', 'Jobs per queue and state', ['queue', 'state']);
  const workersOnline = gauge('pcs_workers_online', 'Workers connected per queue', ['queue']);
  const apiRequests = new Counter({
    name: 'pcs_api_requests_total',
    help: 'Requests to the outside APIs by api (pipedrive, chatwoot, google_chat) and status (the HTTP status, or error when none came)',
    labelNames: ['api', 'status'],
    registers: [registry],
  });
  const durations = new JobDurations();
  registry.registerMetric(durations as unknown as Metric);
  // Kept in the database and shown as they are read: a counter is emptied and added to.
  const counters = Object.fromEntries(
    (Object.keys(METRIC_COUNTERS) as CounterName[]).map((name) => [
      name,
      new Counter({ name, help: COUNTER_HELP[name], labelNames: [...METRIC_COUNTERS[name]], registers: [registry] }),
    ]),
  ) as Record<CounterName, Counter>;
  const alertsFiring = gauge('pcs_alerts_firing', 'Alerts firing now, by level', ['level']);
  const lastSuccess = gauge(
    'pcs_last_successful_sync_timestamp_seconds',
    'End of the last succeeded or partial full or incremental sync run (absent while there is none)',
    [],
  );
  // A gauge without labels shows 0 once emptied: left out instead while nothing is known.
  const lastSuccessFilled: Filled = {
    reset: () => {
      lastSuccess.reset();
      lastSuccess.remove({});
    },
  };

  const readTimeoutMs = opts.readTimeoutMs ?? 5_000;
  const sources: Record<Part, Source> = {
    redis: source('redis', opts.redisTtlMs ?? 5_000, [queueJobs, workersOnline, apiRequests, durations], () =>
      readRedis(queues, opts.counters, queueJobs, workersOnline, apiRequests, durations),
    ),
    database: source(
      'database',
      opts.databaseTtlMs ?? 15_000,
      [...Object.values(counters), alertsFiring, lastSuccessFilled],
      () => {
        const ds = getDs();
        if (!ds?.isInitialized) throw new Error('database not connected');
        return readDatabase(ds, opts.target, counters, alertsFiring, lastSuccess);
      },
    ),
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
   * One part's metrics, refreshed single-flight: the reading is gathered first and applied in one
   * synchronous step, so a scrape never sees half of it.
   */
  function source(part: Part, ttlMs: number, metrics: Filled[], read: () => Promise<Reading>): Source {
    let at = 0;
    let readWhileUp: boolean | undefined;
    let inflight: Promise<void> | undefined;
    let lastWarn = 0;
    // A read still going, perhaps past the timeout: the next refresh waits on it instead of
    // starting another one next to it (a slow database is not asked twice).
    let reading: Promise<Reading> | undefined;
    const refresh = async (isUp: boolean) => {
      if (!isUp) {
        // A part that is down is left out at once (pcs_up says why).
        for (const m of metrics) m.reset();
      } else {
        try {
          reading ??= read().finally(() => (reading = undefined));
          const fresh = await withTimeout(reading, readTimeoutMs, part, `reading the ${part} metrics`);
          for (const m of metrics) m.reset();
          for (const apply of fresh) apply();
        } catch (err) {
          // Slow or failed while the part answers pings: the last values stay (no gap in a
          // counter's series), and the next refresh tries again.
          if (Date.now() - lastWarn > 60_000) log.warn({ err, part }, `metrics: could not read ${part}`);
          lastWarn = Date.now();
          if (readWhileUp === false) for (const m of metrics) m.reset();
        }
      }
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

/**
 * Job counts and workers of every queue, and the counters the workers keep in Redis (API requests,
 * job durations): a handful of Redis round trips.
 */
async function readRedis(
  queues: Queues,
  where: MetricsOptions['counters'],
  jobs: Gauge,
  workers: Gauge,
  apiRequests: Counter,
  durations: JobDurations,
): Promise<Reading> {
  const out: Reading = [];
  const set =
    (g: Gauge): SetFn =>
    (labels, v) =>
      out.push(() => g.set(labels, v));
  const [, counted] = await Promise.all([
    Promise.all(
      QUEUE_NAMES.map(async (q) => {
        const [counts, online] = await Promise.all([
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
        ]);
        for (const [state, n] of Object.entries(counts)) set(jobs)({ queue: q, state }, n ?? 0);
        set(workers)({ queue: q }, online.length);
      }),
    ),
    where ? readMetricCounters(where.redis, where.prefix) : { api: [], jobs: [] },
  ]);
  for (const c of counted.api) out.push(() => apiRequests.inc({ api: c.api, status: c.status }, c.value));
  out.push(() => durations.set(counted.jobs));
  return out;
}

/**
 * `pcs_job_duration_seconds{queue,name}` as a Prometheus histogram of the absolute values the
 * workers counted (prom-client's Histogram only observes, it cannot be set): a metric of type
 * `histogram` whose values are the `_bucket` (cumulative, `le`), `_sum` and `_count` series.
 */
class JobDurations {
  readonly name = 'pcs_job_duration_seconds';
  readonly help = 'Processing time of jobs (each completed or failed attempt), by queue and job name';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private jobs: JobDurationHistogram[] = [];

  set(jobs: JobDurationHistogram[]) {
    this.jobs = jobs;
  }

  reset() {
    this.jobs = [];
  }

  get() {
    const { name, help, type, aggregator } = this;
    const values = this.jobs.flatMap(({ queue, name: job, buckets, sum, count }) => [
      ...buckets.map((b) => ({
        metricName: `${name}_bucket`,
        labels: { queue, name: job, le: b.le },
        value: b.value,
      })),
      { metricName: `${name}_sum`, labels: { queue, name: job }, value: sum },
      { metricName: `${name}_count`, labels: { queue, name: job }, value: count },
    ]);
    return { name, help, type, aggregator, values };
  }
}

const COUNTER_HELP: Record<CounterName, string> = {
  pcs_sync_runs_total: 'Ended sync runs, by mode (full, incremental, targeted) and status (succeeded, partial, failed)',
  pcs_sync_records_total: 'Records handled by sync runs, each once, by outcome (a value left off: warning)',
  pcs_cleanup_runs_total: 'Ended cleanup runs, by mode (mark, delete, dry-run) and status',
  pcs_alerts_sent_total: 'Alert notifications delivered, by level and state (firing, resolved)',
};

/**
 * The counters (one small table), the alerts firing (by level, over the alert states) and the
 * end of the last successful sync (the runs owner's question, read along its index): a few
 * statements of a few rows each, whatever the history, read at most once per database TTL.
 */
async function readDatabase(
  ds: DataSource,
  target: Pick<Config, 'pipedrive' | 'chatwoot'> | undefined,
  counters: Record<CounterName, Counter>,
  firing: Gauge,
  lastSuccess: Gauge,
): Promise<Reading> {
  const out: Reading = [];
  const [values, firingRows, last] = await Promise.all([
    readCounters(ds),
    ds.query("SELECT level, COUNT(*) AS n FROM alert_states WHERE state = 'firing' GROUP BY level") as Promise<
      { level: string; n: string | number }[]
    >,
    (target ? targetSince(ds, target) : Promise.resolve(new Date(0))).then((since) =>
      new RunHistory(ds).lastSuccessfulSync(since),
    ),
  ]);
  for (const c of values) out.push(() => counters[c.name].inc(c.labels, c.value));
  const byLevel = new Map(firingRows.map((r) => [r.level, Number(r.n)]));
  for (const level of new Set([...ALERT_LEVELS, ...byLevel.keys()]))
    out.push(() => firing.set({ level }, byLevel.get(level) ?? 0));
  const at = last?.finishedAt;
  if (at) out.push(() => lastSuccess.set(at.getTime() / 1000));
  return out;
}
