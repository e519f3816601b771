import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@pcs/config';
import { openDatabase, type DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { pruneHistory, reapRuns, readCounters, Runs, type OutcomeRecord } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The counters of /metrics (docs/contract.md §4) are kept by the runs module as runs end and
 * records are recorded: a run is counted once whichever path ends it, a record once however often
 * its batch commits, and pruning old runs lowers nothing. Real MariaDB.
 */
describe('metric counters kept by the runs module', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let runs: Runs;
  const config = parseConfig({ MYSQL_USER: 'root' });
  const quiet = () => undefined;
  const log = { info: quiet, warn: quiet, error: quiet, debug: quiet } as unknown as Logger;

  beforeAll(async () => {
    db = await createTestDatabase('runcount');
    ds = (await openDatabase(db.config, { poolSize: 12 })).ds;
    runs = new Runs(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  /** Every counter as `name{k=v,…}` → value. */
  const counters = async () =>
    Object.fromEntries(
      (await readCounters(ds)).map((c) => [
        `${c.name}{${Object.entries(c.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}}`,
        c.value,
      ]),
    );
  const sum = (all: Record<string, number>, name: string) =>
    Object.entries(all)
      .filter(([k]) => k.startsWith(`${name}{`))
      .reduce((a, [, v]) => a + v, 0);

  it('starts with every series at zero', async () => {
    const all = await counters();
    expect(all['pcs_sync_runs_total{mode=targeted,status=partial}']).toBe(0);
    expect(all['pcs_sync_records_total{outcome=warning}']).toBe(0);
    expect(all['pcs_cleanup_runs_total{mode=delete,status=refused}']).toBe(0);
    expect(all['pcs_alerts_sent_total{level=ERROR,state=resolved}']).toBe(0);
    expect(Object.keys(all)).toHaveLength(9 + 6 + 12 + 6);
  });

  it('a run ended at once by its handler, the reaper, an abort and a failure counts once, under the end that won', async () => {
    for (let i = 0; i < 5; i++) {
      const before = await counters();
      const quick = new Runs(ds, { leaseSeconds: 0 });
      const { run } = await quick.begin({ type: 'sync', mode: 'full', trigger: 'test', jobId: `race-${i}` });
      await quick.completeListing(run.id, { batchesTotal: 1 });
      await quick.recordOutcomes(run.id, [{ orgId: 1, action: 'created' }], { batchDone: 0 });
      await sleep(5);
      const ends = await Promise.all([
        new Runs(ds).finishIfDone(run.id),
        new Runs(ds).abort(run.id),
        new Runs(ds).fail(run.id, { kind: 'transient', message: 'lost the connection' }),
        reapRuns({ runs: new Runs(ds), config, log }, async () => ({
          alive: false,
          failure: { kind: 'lost', message: 'its job is gone' },
        })).then(() => undefined),
        new Runs(ds).finishIfDone(run.id),
      ]);
      const stored = (await runs.get(run.id))!;
      expect(['succeeded', 'failed']).toContain(stored.status);
      expect(ends.filter(Boolean).length).toBeLessThanOrEqual(1);
      const after = await counters();
      expect(sum(after, 'pcs_sync_runs_total') - sum(before, 'pcs_sync_runs_total')).toBe(1);
      const key = `pcs_sync_runs_total{mode=full,status=${stored.status}}`;
      expect(after[key]! - before[key]!).toBe(1);
      // Whoever comes later changes nothing.
      expect(await runs.fail(run.id, { kind: 'transient', message: 'again' })).toBeUndefined();
      expect(await counters()).toEqual(after);
    }
  });

  it('counts each record once by its outcome (a warning as a warning), a late batch too, and targeted and cleanup runs apart', async () => {
    const before = await counters();
    const { run } = await runs.begin({ type: 'sync', mode: 'incremental', trigger: 'test' });
    await runs.completeListing(run.id, { batchesTotal: 2 });
    const batch: OutcomeRecord[] = [
      { orgId: 11, action: 'created' },
      { orgId: 12, action: 'updated', warning: 'email left off' },
      { orgId: 13, action: 'failed', errorType: 'transient', message: '503' },
      { orgId: 14, action: 'adopted' },
    ];
    await runs.recordOutcomes(run.id, batch, { batchDone: 0 });
    // The same batch committed again (a stalled job run twice): nothing more.
    await runs.recordOutcomes(run.id, batch, { batchDone: 0 });
    // The run fails meanwhile; its last batch still commits (the work was done): counted.
    await runs.fail(run.id, { kind: 'transient', message: 'gave up' });
    await runs.recordOutcomes(run.id, [{ orgId: 15, action: 'unchanged' }], { batchDone: 1 });
    const targeted = await runs.beginTargeted({ trigger: 'webhook', details: { orgId: 16 } });
    await runs.recordOutcomes(targeted.id, [{ orgId: 16, action: 'updated' }], { batchDone: 0 });
    expect(await runs.finishIfDone(targeted.id)).toMatchObject({ status: 'succeeded' });
    // A cleanup's outcomes are its own (count: false): not sync records.
    const cleanup = (await runs.begin({ type: 'cleanup', mode: 'mark', trigger: 'test' })).run;
    await runs.recordOutcomes(cleanup.id, [{ orgId: 17, action: 'failed' }], { count: false });
    expect(await runs.endCleanup(cleanup.id, { status: 'partial', failed: 1, details: {} })).toBeDefined();
    expect(await runs.endCleanup(cleanup.id, { status: 'succeeded', details: {} })).toBeUndefined();

    const after = await counters();
    const diff = (k: string) => after[k]! - before[k]!;
    expect({
      created: diff('pcs_sync_records_total{outcome=created}'),
      updated: diff('pcs_sync_records_total{outcome=updated}'),
      warning: diff('pcs_sync_records_total{outcome=warning}'),
      failed: diff('pcs_sync_records_total{outcome=failed}'),
      adopted: diff('pcs_sync_records_total{outcome=adopted}'),
      unchanged: diff('pcs_sync_records_total{outcome=unchanged}'),
    }).toEqual({ created: 1, updated: 1, warning: 1, failed: 1, adopted: 1, unchanged: 1 });
    expect(diff('pcs_sync_runs_total{mode=incremental,status=failed}')).toBe(1);
    expect(diff('pcs_sync_runs_total{mode=targeted,status=succeeded}')).toBe(1);
    expect(diff('pcs_cleanup_runs_total{mode=mark,status=partial}')).toBe(1);
    expect(sum(after, 'pcs_sync_runs_total') - sum(before, 'pcs_sync_runs_total')).toBe(2);
  });

  it('pruning old runs and their outcomes lowers no counter', async () => {
    for (let i = 0; i < 3; i++) {
      const t = await runs.beginTargeted({ trigger: 'webhook', details: { orgId: 100 + i } });
      await runs.recordOutcomes(t.id, [{ orgId: 100 + i, action: 'created' }], { batchDone: 0 });
      await runs.finishIfDone(t.id);
    }
    const before = await counters();
    // Everything a year old, as a year of history would be, its alerts evaluated (as a worker does at each end).
    await ds.query("UPDATE runs SET alerts_done = 1 WHERE status <> 'running'");
    await ds.query(`UPDATE runs SET started_at = started_at - INTERVAL 400 DAY, finished_at = finished_at - INTERVAL 400 DAY,
      listing_started_at = listing_started_at - INTERVAL 400 DAY WHERE status <> 'running'`);
    await ds.query('UPDATE record_outcomes SET created_at = created_at - INTERVAL 400 DAY');
    await ds.query('UPDATE run_batches SET ended_at = ended_at - INTERVAL 400 DAY');
    const report = await pruneHistory(ds, { retentionDays: 30, since: new Date(0) });
    expect(report.deleted.runs).toBeGreaterThanOrEqual(3);
    expect(report.deleted.outcomes).toBeGreaterThanOrEqual(3);
    expect(await counters()).toEqual(before);
    expect(before['pcs_sync_runs_total{mode=targeted,status=succeeded}']).toBeGreaterThanOrEqual(4);
  });
});
