import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, openDatabase, RecordOutcomeEntity, OrganizationEntity, RunEntity } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/index.js';

describe('db migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('db');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('creates every table from empty, then finds nothing to do on a re-run', async () => {
    const first = await openDatabase(db.config);
    expect(first.migrations.applied).toEqual([
      'Init1764200000000',
      'PipedriveMirror1764300000000',
      'RunBatches1764400000000',
      'SyncTarget1764500000000',
      'StateOwners1764600000000',
      'HistoryIndexes1764700000000',
      'MetricCounters1764800000000',
    ]);
    const tables = ((await first.ds.query('SHOW TABLES')) as Record<string, string>[])
      .map((r) => Object.values(r)[0])
      .sort();
    expect(tables).toEqual([
      'alert_outbox',
      'alert_states',
      'check_results',
      'metric_counters',
      'organizations',
      'pcs_settings',
      'persons',
      'record_outcomes',
      'run_batches',
      'runs',
      'schema_migrations',
    ]);
    await first.ds.destroy();
    const second = await openDatabase(db.config);
    expect(second.migrations.applied).toEqual([]);
    await second.ds.destroy();
  });

  it('applies migrations once when several processes start at the same time', async () => {
    const fresh = await createTestDatabase('dbrace');
    try {
      const results = await Promise.all([1, 2, 3, 4].map(() => openDatabase(fresh.config, { poolSize: 2 })));
      const applied = results.flatMap((r) => r.migrations.applied);
      expect(applied).toEqual([
        'Init1764200000000',
        'PipedriveMirror1764300000000',
        'RunBatches1764400000000',
        'SyncTarget1764500000000',
        'StateOwners1764600000000',
        'HistoryIndexes1764700000000',
        'MetricCounters1764800000000',
      ]);
      const rows = (await results[0]!.ds.query('SELECT COUNT(*) AS n FROM schema_migrations')) as { n: number }[];
      expect(Number(rows[0]!.n)).toBe(7);
      await Promise.all(results.map((r) => r.ds.destroy()));
    } finally {
      await fresh.drop();
    }
  });

  it('creates the database itself when it does not exist yet', async () => {
    const config = { ...db.config, database: `${db.config.database}_new` };
    const { ds, migrations } = await openDatabase(config);
    expect(migrations.applied).toHaveLength(7);
    await ds.query(`DROP DATABASE \`${config.database}\``);
    await ds.destroy();
  });

  it('round-trips the entities, with bigint ids and JSON columns as values', async () => {
    const { ds } = await openDatabase(db.config);
    const orgs = ds.getRepository(OrganizationEntity);
    await orgs.save({
      id: 9_007_199_254,
      name: 'Émile & Fils 🚀',
      isCustomer: true,
      rejectedValues: { email: 'x@y' },
      chatwootContactId: 77,
    });
    const org = await orgs.findOneByOrFail({ id: 9_007_199_254 });
    expect(org).toMatchObject({
      id: 9_007_199_254,
      name: 'Émile & Fils 🚀',
      isCustomer: true,
      syncState: 'pending',
      chatwootContactId: 77,
      rejectedValues: { email: 'x@y' },
    });
    const runs = ds.getRepository(RunEntity);
    await runs.save({
      id: '00000000-0000-4000-8000-000000000001',
      type: 'sync',
      mode: 'full',
      trigger: 'cli',
      status: 'running',
      startedAt: new Date(),
      details: { note: 'x' },
    });
    await ds.getRepository(RecordOutcomeEntity).save({
      runId: '00000000-0000-4000-8000-000000000001',
      orgId: 1,
      outcome: 'failed',
      errorType: 'transient',
      createdAt: new Date(),
    });
    const outcome = await ds.getRepository(RecordOutcomeEntity).findOneByOrFail({ orgId: 1 });
    expect(typeof outcome.id).toBe('number');
    await ds.destroy();
  });

  it('uses the indexes the monitor relies on', async () => {
    const ds = createDataSource(db.config);
    await ds.initialize();
    const plan = (await ds.query(
      'EXPLAIN SELECT outcome, COUNT(*) FROM record_outcomes WHERE created_at >= NOW() - INTERVAL 1 DAY GROUP BY outcome',
    )) as { key: string | null; possible_keys: string | null }[];
    expect(plan[0]!.possible_keys ?? '').toContain('IDX_outcomes_created_outcome');
    const plan2 = (await ds.query(
      "EXPLAIN SELECT COUNT(*) FROM organizations WHERE is_customer = 1 AND sync_state <> 'synced'",
    )) as { possible_keys: string | null }[];
    expect(plan2[0]!.possible_keys ?? '').toContain('IDX_org_customer_state');
    // The questions of RunHistory (one mode at a time) and the prune's windows (see HistoryIndexes).
    const keysOf = async (sql: string) =>
      ((await ds.query(`EXPLAIN ${sql}`)) as { possible_keys: string | null }[])[0]!.possible_keys ?? '';
    expect(
      await keysOf(
        "SELECT id FROM runs WHERE type = 'sync' AND mode = 'full' AND listing_complete = 1 AND listing_started_at >= NOW() ORDER BY listing_started_at DESC LIMIT 1",
      ),
    ).toContain('IDX_runs_listing');
    expect(
      await keysOf("SELECT id FROM runs WHERE type = 'sync' AND mode = 'incremental' ORDER BY started_at DESC LIMIT 1"),
    ).toContain('IDX_runs_type_mode_started');
    expect(await keysOf("SELECT id FROM check_results WHERE check_name = 'queues' ORDER BY id DESC LIMIT 1")).toContain(
      'IDX_checks_name_id',
    );
    expect(await keysOf('SELECT ended_at FROM run_batches WHERE ended_at < NOW() ORDER BY ended_at LIMIT 1')).toContain(
      'IDX_batches_ended',
    );
    expect(
      await keysOf('SELECT relayed_at FROM alert_outbox WHERE relayed_at < NOW() ORDER BY relayed_at LIMIT 1'),
    ).toContain('IDX_outbox_relayed');
    await ds.destroy();
  });

  it('keeps one outcome per organization and run: duplicates of an older version are folded, new ones refused', async () => {
    const fresh = await createTestDatabase('dbdup');
    try {
      const { ds } = await openDatabase(fresh.config);
      // As an older version left it: the unique key is not there yet, and one organization has two outcomes.
      await ds.query("DELETE FROM schema_migrations WHERE name = 'StateOwners1764600000000'");
      await ds.query('DROP TABLE alert_outbox');
      await ds.query('ALTER TABLE record_outcomes DROP KEY UQ_outcomes_run_org');
      await ds.query(`ALTER TABLE runs DROP KEY IDX_runs_alerts_pending, DROP KEY IDX_runs_type_mode_status_finished,
        DROP KEY IDX_runs_status_lease, DROP COLUMN alerts_done, DROP COLUMN error_source, DROP COLUMN error_kind,
        DROP COLUMN lease_until, DROP COLUMN job_id`);
      const run = '00000000-0000-4000-8000-000000000002';
      for (const outcome of ['failed', 'updated'])
        await ds.query(
          'INSERT INTO record_outcomes (run_id, org_id, outcome, created_at) VALUES (?, 7, ?, UTC_TIMESTAMP(3))',
          [run, outcome],
        );
      await ds.destroy();
      const again = await openDatabase(fresh.config);
      expect(again.migrations.applied).toEqual(['StateOwners1764600000000']);
      const rows = (await again.ds.query('SELECT outcome FROM record_outcomes WHERE run_id = ?', [run])) as {
        outcome: string;
      }[];
      expect(rows).toEqual([{ outcome: 'updated' }]);
      await expect(
        again.ds.query(
          "INSERT INTO record_outcomes (run_id, org_id, outcome, created_at) VALUES (?, 7, 'created', UTC_TIMESTAMP(3))",
          [run],
        ),
      ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
      await again.ds.destroy();
    } finally {
      await fresh.drop();
    }
  });

  it('counts the runs and outcomes an older version left in the metric counters', async () => {
    const fresh = await createTestDatabase('dbcount');
    try {
      const { ds } = await openDatabase(fresh.config);
      // As an older version left it: no counters table, ended runs and outcomes in the history.
      await ds.query("DELETE FROM schema_migrations WHERE name = 'MetricCounters1764800000000'");
      await ds.query('DROP TABLE metric_counters');
      const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
      const run = (n: number, type: string, mode: string, status: string) =>
        ds.query(
          `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, finished_at)
           VALUES (?, ?, ?, 'test', ?, UTC_TIMESTAMP(3), IF(? = 'running', NULL, UTC_TIMESTAMP(3)))`,
          [id(n), type, mode, status, status],
        );
      await run(1, 'sync', 'full', 'succeeded');
      await run(2, 'sync', 'full', 'succeeded');
      await run(3, 'sync', 'webhook', 'partial');
      await run(4, 'sync', 'incremental', 'running');
      await run(5, 'cleanup', 'delete', 'refused');
      const outcome = (n: number, orgId: number, o: string) =>
        ds.query(
          'INSERT INTO record_outcomes (run_id, org_id, outcome, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))',
          [id(n), orgId, o],
        );
      await outcome(1, 1, 'created');
      await outcome(2, 1, 'unchanged');
      await outcome(3, 2, 'warning');
      await outcome(4, 3, 'created'); // a running run's records so far count too
      await outcome(5, 4, 'failed'); // a cleanup's: not a sync record
      await ds.destroy();

      const again = await openDatabase(fresh.config);
      expect(again.migrations.applied).toEqual(['MetricCounters1764800000000']);
      const rows = (await again.ds.query(
        'SELECT name, labels, value FROM metric_counters WHERE value > 0 ORDER BY name, labels',
      )) as { name: string; labels: string; value: string }[];
      expect(rows.map((r) => `${r.name}{${r.labels}} ${r.value}`)).toEqual([
        'pcs_cleanup_runs_total{mode=delete,status=refused} 1',
        'pcs_sync_records_total{outcome=created} 2',
        'pcs_sync_records_total{outcome=unchanged} 1',
        'pcs_sync_records_total{outcome=warning} 1',
        'pcs_sync_runs_total{mode=full,status=succeeded} 2',
        'pcs_sync_runs_total{mode=targeted,status=partial} 1',
      ]);
      // Every other series is there at zero.
      const [{ n }] = (await again.ds.query('SELECT COUNT(*) AS n FROM metric_counters')) as [{ n: string }];
      expect(Number(n)).toBe(9 + 6 + 12 + 6);
      await again.ds.destroy();
    } finally {
      await fresh.drop();
    }
  });

  it('types every database error: kind `database`, and what it means from the driver code', async () => {
    const { databaseFailure } = await import('../src/index.js');
    const { kindOf } = await import('@pcs/errors');
    const unreachable = await openDatabase(
      { ...db.config, port: 9 },
      { migrate: false, connectTimeoutMs: 1_000 },
    ).catch((err: unknown) => err);
    expect(kindOf(unreachable)).toBe('database');
    expect(databaseFailure(unreachable)).toBe('unreachable');
    const { ds } = await openDatabase(db.config, { migrate: false });
    try {
      const missing = await ds.query('SELECT * FROM no_such_table').catch((err: unknown) => err);
      expect(kindOf(missing)).toBe('database');
      expect(databaseFailure(missing)).toBe('missing');
      const bad = await ds
        .getRepository(RunEntity)
        .query('SELECT FROM')
        .catch((err: unknown) => err);
      expect(databaseFailure(bad)).toBe('statement');
    } finally {
      await ds.destroy();
    }
  });
});
