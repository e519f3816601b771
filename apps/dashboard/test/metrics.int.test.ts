import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DataSource } from '@pcs/db';
import { createLoggers, type Loggers } from '@pcs/logger';
import { closeQueues, createQueues, createRedis, type Queues, type RedisClient } from '@pcs/queues';
import { pruneHistory, Runs } from '@pcs/sync';
import { createHealth } from '../src/health.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import {
  createTestDatabase,
  dropPrefix,
  REDIS_URL,
  tempDir,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../../../test/support/index.js';

/**
 * /metrics (docs/contract.md §4) does no heavy work per scrape: the database is read once per
 * TTL, by one computation that concurrent scrapes share, and that reading is a handful of rows:
 * the counters the runs module keeps as runs end (so pruning old runs lowers none), the alerts
 * firing, the last successful sync. Real Redis and MariaDB; the data source is only watched (how
 * often the metrics read the counters table = how often they read the database), never replaced.
 */
describe('metrics', () => {
  const DB_TTL_MS = 400;
  let db: TestDatabase;
  let ds: DataSource;
  let redis: RedisClient;
  let queues: Queues;
  let loggers: Loggers;
  let metrics: Metrics;
  let prefix: string;
  let readings = 0;
  /** While set, reading the counters takes this long (a database that answers pings but is slow). */
  let slowMs = 0;

  beforeAll(async () => {
    db = await createTestDatabase('metrics');
    ds = (await openDatabase(db.config, { poolSize: 4 })).ds;
    const query = ds.query.bind(ds);
    ds.query = ((sql: string, params?: unknown[]) => {
      if (!sql.includes('FROM metric_counters')) return query(sql, params);
      readings++;
      const delay = slowMs;
      return delay ? new Promise((r) => setTimeout(r, delay)).then(() => query(sql, params)) : query(sql, params);
    }) as DataSource['query'];
    prefix = uniqueName('metrics');
    redis = createRedis(REDIS_URL, 'producer');
    queues = createQueues(redis, prefix);
    loggers = await createLoggers(
      { log: { dir: tempDir('metrics-logs'), level: 'info', maxSize: '1m', maxFiles: 2 }, secrets: [] },
      { console: false, channels: ['worker'] },
    );
    const log = loggers.get('worker');
    metrics = createMetrics(
      queues,
      () => ds,
      createHealth(redis, () => ds, log),
      log,
      { databaseTtlMs: DB_TTL_MS },
    );
  });
  afterAll(async () => {
    await closeQueues(queues);
    redis?.disconnect();
    await ds?.destroy();
    await loggers?.close();
    await dropPrefix(prefix);
    await db?.drop();
  });

  /** The project's lines of a scrape (the process metrics aside). */
  const pcsLines = (t: string) =>
    t
      .split('\n')
      .filter((l) => /^pcs_(?!dashboard_)/.test(l))
      .join('\n');
  /** A scrape once the database was read again (after the TTL) and shows `expected`. */
  const scrapeShowing = (expected: string) =>
    waitFor(
      async () => {
        const t = await metrics.scrape();
        return t.includes(expected) ? t : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 20, what: expected },
    );

  /** A full sync run through the runs module: `created` records, then its end. */
  async function fullSync(created: number) {
    const runs = new Runs(ds);
    const { run } = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test' });
    await runs.startListing(run.id, { mode: 'full', details: {} });
    await runs.completeListing(run.id, { batchesTotal: 1 });
    await runs.recordOutcomes(
      run.id,
      Array.from({ length: created }, (_, i) => ({
        orgId: 1000 + i + Math.floor(Math.random() * 1e6),
        action: 'created' as const,
      })),
      { batchDone: 0 },
    );
    return (await runs.finishIfDone(run.id))!;
  }

  it('concurrent scrapes share one reading, and scrapes within the TTL read nothing', async () => {
    const first = await Promise.all(Array.from({ length: 25 }, () => metrics.scrape()));
    expect(readings).toBe(1);
    expect(new Set(first.map(pcsLines)).size).toBe(1);
    expect(first[0]).toContain('pcs_up{part="database"} 1');
    expect(first[0]).toContain('pcs_sync_records_total{outcome="created"} 0');
    // Nothing succeeded yet: no time, rather than a made-up one.
    expect(first[0]).not.toMatch(/^pcs_last_successful_sync_timestamp_seconds /m);

    await Promise.all(Array.from({ length: 25 }, () => metrics.scrape()));
    expect(readings).toBe(1);
  });

  it('shows the contract counters as Prometheus counters, and the last successful sync', async () => {
    const run = await fullSync(3);
    const before = readings;
    await new Promise((r) => setTimeout(r, DB_TTL_MS + 50));
    const text = await scrapeShowing('pcs_sync_records_total{outcome="created"} 3');
    // Polling every 20 ms within one TTL: a single new reading.
    expect(readings - before).toBe(1);
    for (const name of [
      'pcs_sync_runs_total',
      'pcs_sync_records_total',
      'pcs_alerts_sent_total',
      'pcs_cleanup_runs_total',
    ])
      expect(text).toContain(`# TYPE ${name} counter`);
    expect(text).toContain('pcs_sync_runs_total{mode="full",status="succeeded"} 1');
    expect(text).toContain('pcs_sync_runs_total{mode="targeted",status="failed"} 0');
    expect(text).toContain('pcs_alerts_sent_total{level="ERROR",state="firing"} 0');
    expect(text).toContain('# TYPE pcs_last_successful_sync_timestamp_seconds gauge');
    expect(text).toContain(`pcs_last_successful_sync_timestamp_seconds ${run.finishedAt!.getTime() / 1000}`);
    expect(text).toContain('pcs_alerts_firing{level="ERROR"} 0');
  });

  it('counters never go down when old runs are pruned, and alerts firing are counted by level', async () => {
    // Targeted runs around the full one: history the prune may take.
    const runs = new Runs(ds);
    for (const orgId of [1, 2]) {
      const t = await runs.beginTargeted({ trigger: 'webhook', details: { orgId } });
      await runs.recordOutcomes(t.id, [{ orgId, action: 'updated' }], { batchDone: 0 });
      await runs.finishIfDone(t.id);
    }
    await ds.query(
      `INSERT INTO alert_states (fingerprint, state, level, script, error_type, message, notify_count, updated_at)
       VALUES ('sync:auth', 'firing', 'ERROR', 'sync', 'auth', 'bad token', 1, UTC_TIMESTAMP(3))`,
    );
    await new Promise((r) => setTimeout(r, DB_TTL_MS + 50));
    const before = pcsLines(await scrapeShowing('pcs_sync_runs_total{mode="targeted",status="succeeded"} 2'));
    expect(before).toContain('pcs_sync_records_total{outcome="updated"} 2');
    expect(before).toContain('pcs_alerts_firing{level="ERROR"} 1');

    // A year later, the daily prune (RETENTION_DAYS) takes the old runs and their outcomes (their
    // alerts evaluated, as a worker does at each end).
    await ds.query('UPDATE runs SET alerts_done = 1');
    await ds.query(`UPDATE runs SET started_at = started_at - INTERVAL 400 DAY, finished_at = finished_at - INTERVAL 400 DAY,
      listing_started_at = listing_started_at - INTERVAL 400 DAY`);
    await ds.query('UPDATE record_outcomes SET created_at = created_at - INTERVAL 400 DAY');
    await ds.query('UPDATE run_batches SET ended_at = ended_at - INTERVAL 400 DAY');
    const report = await pruneHistory(ds, { retentionDays: 30, since: new Date(0) });
    expect(report.deleted.runs).toBe(2);
    expect(report.deleted.outcomes).toBeGreaterThanOrEqual(2);

    const at = readings;
    await new Promise((r) => setTimeout(r, DB_TTL_MS + 50));
    await waitFor(async () => (await metrics.scrape(), readings > at), { timeoutMs: 5_000, what: 'a new reading' });
    const after = pcsLines(await metrics.scrape());
    const counterLines = (t: string) =>
      t
        .split('\n')
        .filter((l) => /^pcs_(sync_runs|sync_records|cleanup_runs|alerts_sent)_total\{/.test(l))
        .sort();
    expect(counterLines(after)).toEqual(counterLines(before));
    expect(counterLines(after).length).toBeGreaterThanOrEqual(9 + 6 + 12 + 6);
  });

  it('a slow reading keeps the last values and is not started again next to itself', async () => {
    const log = loggers.get('worker');
    const slow = createMetrics(
      queues,
      () => ds,
      createHealth(redis, () => ds, log),
      log,
      {
        databaseTtlMs: 100,
        readTimeoutMs: 150,
      },
    );
    const shown = await waitFor(
      async () => {
        const t = await slow.scrape();
        return /^pcs_sync_runs_total\{mode="full",status="succeeded"\} 1$/m.test(t) ? t : undefined;
      },
      { timeoutMs: 5_000, what: 'a first reading' },
    );
    slowMs = 1_500;
    try {
      const at = readings;
      // Scrapes over 1.2 s: the TTL runs out many times, each reading gives up after 150 ms.
      let last = '';
      for (const end = Date.now() + 1_200; Date.now() < end;) {
        last = await slow.scrape();
        await new Promise((r) => setTimeout(r, 30));
      }
      // One reading went to the database, not one per TTL; the series did not vanish meanwhile.
      expect(readings - at).toBe(1);
      expect(pcsLines(last)).toEqual(pcsLines(shown));
      expect(last).toContain('pcs_up{part="database"} 1');
    } finally {
      slowMs = 0;
    }
  });
});
