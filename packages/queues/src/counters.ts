import type { RedisClient } from './connection.js';

/**
 * Deployment-wide counters of docs/contract.md §4 kept in Redis under the queue prefix (stacks
 * sharing a Redis never mix): every worker process adds to them, the dashboard only reads them.
 * - `<prefix>:metrics:api`, fields `<api>|<status>`: `pcs_api_requests_total{api,status}`;
 * - `<prefix>:metrics:jobs`, fields `<queue>|<name>|le=<bucket>` (cumulative, as Prometheus
 *   buckets are), `<queue>|<name>|sum` and `<queue>|<name>|count`: `pcs_job_duration_seconds`.
 * They survive a restart of any process (Redis keeps them; a Redis that loses its data starts
 * them again from 0, which Prometheus reads as a counter reset).
 */
export const apiMetricsKey = (prefix: string) => `${prefix}:metrics:api`;
export const jobMetricsKey = (prefix: string) => `${prefix}:metrics:jobs`;

/** Upper bounds (seconds) of the buckets of pcs_job_duration_seconds; `+Inf` follows. */
export const JOB_DURATION_BUCKETS: readonly number[] = [0.1, 0.5, 1, 5, 15, 60, 300, 900];

export interface MetricsRecorderOptions {
  /** How often the counts gathered in memory go to Redis (default 1 s). */
  flushMs?: number;
  /** Told when a flush failed (its counts are dropped); rate-limit any logging yourself. */
  onError?: (err: unknown) => void;
}

/**
 * Counts in memory and adds them to Redis in one MULTI per second: counting never waits on Redis
 * and never fails a request or a job. Redis being away loses at most the counts of the flushes
 * that failed meanwhile (as a crash loses at most the last second).
 */
export class MetricsRecorder {
  private api = new Map<string, number>();
  private jobs = new Map<string, number>();
  private sums = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onError: (err: unknown) => void;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    opts: MetricsRecorderOptions = {},
  ) {
    this.onError = opts.onError ?? (() => undefined);
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 1_000);
    this.timer.unref();
  }

  /** One answer of an API (its HTTP status) or a request that got none (`error`). */
  apiResponse(api: string, status: number | 'error'): void {
    add(this.api, `${api}|${status}`, 1);
  }

  /** One processed job (completed or failed attempt) and how long it ran. */
  jobDuration(queue: string, name: string, seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const base = `${queue}|${name}|`;
    for (const le of JOB_DURATION_BUCKETS) if (seconds <= le) add(this.jobs, `${base}le=${le}`, 1);
    add(this.jobs, `${base}le=+Inf`, 1);
    add(this.jobs, `${base}count`, 1);
    add(this.sums, `${base}sum`, seconds);
  }

  /** Sends what was counted since the last flush; never rejects. One flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.api.size && !this.jobs.size && !this.sums.size) return Promise.resolve();
    const [api, jobs, sums] = [this.api, this.jobs, this.sums];
    this.api = new Map();
    this.jobs = new Map();
    this.sums = new Map();
    const multi = this.redis.multi();
    for (const [field, n] of api) multi.hincrby(apiMetricsKey(this.prefix), field, n);
    for (const [field, n] of jobs) multi.hincrby(jobMetricsKey(this.prefix), field, n);
    for (const [field, n] of sums) multi.hincrbyfloat(jobMetricsKey(this.prefix), field, n);
    this.flushing = multi
      .exec()
      .then(() => undefined)
      .catch((err: unknown) => this.onError(err))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and sends the last counts, waiting at most `timeoutMs`. */
  async close(timeoutMs = 1_000): Promise<void> {
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const flushed = (async () => {
      await this.flushing;
      await this.flush();
    })();
    await Promise.race([flushed, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

function add(map: Map<string, number>, field: string, n: number) {
  map.set(field, (map.get(field) ?? 0) + n);
}

export interface ApiRequestCount {
  api: string;
  status: string;
  value: number;
}

export interface JobDurationHistogram {
  queue: string;
  name: string;
  /** Cumulative counts per upper bound, JOB_DURATION_BUCKETS then `+Inf`. */
  buckets: { le: string; value: number }[];
  sum: number;
  count: number;
}

export interface MetricCounters {
  api: ApiRequestCount[];
  jobs: JobDurationHistogram[];
}

/** Reads both hashes (two HGETALL of a few dozen fields). Rejects when Redis does. */
export async function readMetricCounters(redis: RedisClient, prefix: string): Promise<MetricCounters> {
  const [apiFields, jobFields] = await Promise.all([
    redis.hgetall(apiMetricsKey(prefix)),
    redis.hgetall(jobMetricsKey(prefix)),
  ]);
  const api: ApiRequestCount[] = [];
  for (const [field, v] of Object.entries(apiFields)) {
    const at = field.lastIndexOf('|');
    if (at <= 0) continue;
    api.push({ api: field.slice(0, at), status: field.slice(at + 1), value: Number(v) || 0 });
  }
  const byJob = new Map<string, { queue: string; name: string; fields: Map<string, number> }>();
  for (const [field, v] of Object.entries(jobFields)) {
    const first = field.indexOf('|');
    const last = field.lastIndexOf('|');
    if (first <= 0 || last <= first) continue;
    const key = field.slice(0, last);
    let entry = byJob.get(key);
    if (!entry)
      byJob.set(key, (entry = { queue: field.slice(0, first), name: field.slice(first + 1, last), fields: new Map() }));
    entry.fields.set(field.slice(last + 1), Number(v) || 0);
  }
  const jobs = [...byJob.values()].map(({ queue, name, fields }) => {
    const count = fields.get('count') ?? 0;
    // Buckets counted in the same MULTI as the count: the last one always equals it.
    const buckets = [...JOB_DURATION_BUCKETS.map(String), '+Inf'].map((le) => ({
      le,
      value: le === '+Inf' ? count : Math.min(count, fields.get(`le=${le}`) ?? 0),
    }));
    return { queue, name, buckets, sum: fields.get('sum') ?? 0, count };
  });
  return { api, jobs };
}
