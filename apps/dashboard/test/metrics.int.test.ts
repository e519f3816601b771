import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, RunEntity, type DataSource } from '@pcs/db';
import { createLoggers, type Loggers } from '@pcs/logger';
import { closeQueues, createQueues, createRedis, type Queues } from '@pcs/queues';
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
 * /metrics does no heavy work per scrape (docs/contract.md §4): the database aggregates are read
 * once per TTL, by one computation that concurrent scrapes share. Real Redis and MariaDB; the
 * data source is only watched (how often the metrics ask it for a repository = how often they
 * aggregate), never replaced.
 */
describe('metrics cache', () => {
  const DB_TTL_MS = 400;
  let db: TestDatabase;
  let ds: DataSource;
  let redis: Redis;
  let queues: Queues;
  let loggers: Loggers;
  let metrics: Metrics;
  let prefix: string;
  let aggregations = 0;

  beforeAll(async () => {
    db = await createTestDatabase('metrics');
    ds = (await openDatabase(db.config, { poolSize: 4 })).ds;
    const getRepository = ds.getRepository.bind(ds);
    ds.getRepository = ((target: Parameters<DataSource['getRepository']>[0]) => {
      aggregations++;
      return getRepository(target);
    }) as DataSource['getRepository'];
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

  const runRow = () =>
    ds.getRepository(RunEntity).insert({
      id: randomUUID(),
      type: 'sync',
      mode: 'full',
      trigger: 'test',
      status: 'succeeded',
      startedAt: new Date(),
      finishedAt: new Date(),
      created: 3,
    });

  it('concurrent scrapes share one reading, and scrapes within the TTL read nothing', async () => {
    const first = await Promise.all(Array.from({ length: 25 }, () => metrics.scrape()));
    // One reading is three aggregates (runs, records, alerts), whatever the number of scrapes.
    expect(aggregations).toBe(3);
    expect(
      new Set(
        first.map((t) =>
          t
            .split('\n')
            .filter((l) => /^pcs_(?!dashboard_)/.test(l))
            .join('\n'),
        ),
      ).size,
    ).toBe(1);
    expect(first[0]).toContain('pcs_up{part="database"} 1');
    expect(first[0]).toContain('pcs_sync_records{outcome="created"} 0');

    await Promise.all(Array.from({ length: 25 }, () => metrics.scrape()));
    expect(aggregations).toBe(3);
  });

  it('reads again after the TTL, once, and shows the new numbers', async () => {
    await runRow();
    const before = aggregations;
    await new Promise((r) => setTimeout(r, DB_TTL_MS + 50));
    const text = await waitFor(
      async () => {
        const t = await metrics.scrape();
        return t.includes('pcs_sync_records{outcome="created"} 3') ? t : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 20, what: 'the new run in the metrics' },
    );
    expect(text).toContain('pcs_runs{type="sync",status="succeeded"} 1');
    // Polling every 20 ms within one TTL: a single new reading.
    expect(aggregations - before).toBe(3);
  });
});
