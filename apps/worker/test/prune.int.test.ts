import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from '@pcs/db';
import { enqueue } from '@pcs/queues';
import { pruneHistoryJob } from '@pcs/jobs';
import type { PruneReport } from '@pcs/sync';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { waitFor } from '../../../test/support/index.js';

/**
 * The daily prune (RETENTION_DAYS, 90 by default) through the real job on the cleanup queue,
 * against the real database: what is older than the retention goes, in chunks; the current state
 * of organizations and alerts, running runs with their outcomes and batches, and the runs that
 * decisions read stay, however old.
 */
describe('prune-history', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let ds: DataSource;
  const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);
  const ids: Record<string, string> = {};

  async function prune(data: { chunkSize?: number; maxChunks?: number } = {}): Promise<PruneReport> {
    const job = await enqueue(worker.ctx.queues, pruneHistoryJob, { trigger: 'test', ...data });
    const state = await waitFor(
      async () => {
        const s = await job.getState();
        return s === 'completed' || s === 'failed' ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'the prune job' },
    );
    const done = (await worker.ctx.queues.cleanup.getJob(job.id!))!;
    expect(state, done.failedReason).toBe('completed');
    return done.returnvalue as PruneReport;
  }

  async function run(
    name: string,
    type: 'sync' | 'cleanup',
    mode: string,
    status: string,
    age: number,
    extra: { leaseDays?: number; alertsDone?: boolean } = {},
  ) {
    const id = randomUUID();
    ids[name] = id;
    const at = daysAgo(age);
    await ds.query(
      `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, listing_started_at, finished_at,
         listing_complete, lease_until, details, alerts_done)
       VALUES (?, ?, ?, 'test', ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        id,
        type,
        mode,
        status,
        at,
        type === 'sync' ? at : null,
        status === 'running' ? null : new Date(at.getTime() + 60_000),
        type === 'sync' && status !== 'running' ? 1 : 0,
        extra.leaseDays ? daysAgo(-extra.leaseDays) : null,
        JSON.stringify({ customers: 40 }),
        extra.alertsDone === false ? 0 : 1,
      ],
    );
    return id;
  }
  async function outcomes(runName: string, n: number, age: number) {
    for (let i = 1; i <= n; i++)
      await ds.query(
        "INSERT INTO record_outcomes (run_id, org_id, outcome, created_at) VALUES (?, ?, 'unchanged', ?)",
        [ids[runName], i, new Date(daysAgo(age).getTime() + i * 1000)],
      );
  }
  async function batches(runName: string, n: number, age: number) {
    for (let i = 0; i < n; i++)
      await ds.query('INSERT INTO run_batches (run_id, batch, ended_at) VALUES (?, ?, ?)', [
        ids[runName],
        i,
        daysAgo(age),
      ]);
  }
  async function checks(name: string, n: number, age: number) {
    for (let i = 0; i < n; i++)
      await ds.query("INSERT INTO check_results (check_name, status, message, checked_at) VALUES (?, 'ok', ?, ?)", [
        name,
        `${name} ${age} d`,
        daysAgo(age + i / 100),
      ]);
  }
  const count = async (sql: string, params: unknown[] = []) =>
    Number(((await ds.query(sql, params)) as [{ n: string }])[0].n);
  const remainingRuns = async () =>
    ((await ds.query('SELECT id FROM runs')) as { id: string }[])
      .map((r) => Object.keys(ids).find((k) => ids[k] === r.id))
      .sort();

  beforeAll(async () => {
    stack = await createStack('prune', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    // No upkeep round during a test: its alert sweep would settle the run whose alerts are owed.
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'cleanup' }), {
      console: false,
      timing: { reaperIntervalMs: 3_600_000 },
    });
    ds = await stack.ds();
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  beforeEach(async () => {
    for (const t of ['runs', 'record_outcomes', 'run_batches', 'check_results', 'alert_outbox', 'alert_states'])
      await ds.query(`DELETE FROM ${t}`);
    await ds.query('DELETE FROM organizations');
    // Outcomes first, so that the oldest ids are the oldest incremental run's (the first chunk takes them).
    await run('oldIncremental', 'sync', 'incremental', 'succeeded', 120);
    await outcomes('oldIncremental', 25, 120);
    await batches('oldIncremental', 3, 120);
    // The last complete full listing is old, but the full-or-incremental decision and the consistency check read it.
    await run('oldFull', 'sync', 'full', 'succeeded', 100);
    await outcomes('oldFull', 5, 100);
    await run('oldWebhook', 'sync', 'webhook', 'succeeded', 100);
    await outcomes('oldWebhook', 1, 100);
    await run('oldCleanup', 'cleanup', 'mark', 'succeeded', 100);
    await run('oldFailed', 'sync', 'incremental', 'failed', 95);
    // Ended long ago, but a crash lost the evaluation of its alerts: the sweep still owes them.
    await run('oldAlertsOwed', 'sync', 'incremental', 'failed', 96, { alertsDone: false });
    // A run in progress since long before the retention (its lease is alive: a slow one, not a lost one).
    await run('oldRunning', 'sync', 'full', 'running', 100, { leaseDays: 1 });
    await outcomes('oldRunning', 4, 100);
    await batches('oldRunning', 2, 100);
    for (const [name, age] of [
      ['recent1', 10],
      ['recent2', 5],
      ['recent3', 1],
    ] as const) {
      await run(name, 'sync', 'incremental', 'succeeded', age);
      await outcomes(name, 3, age);
      await batches(name, 1, age);
    }
    await run('recentCleanup', 'cleanup', 'mark', 'succeeded', 10);
    await checks('freshness', 6, 100);
    await checks('freshness', 2, 1);
    await checks('retired-check', 3, 200); // no longer runs: its latest result is all the status has
    // Alert history: delivered long ago (goes), owed still (stays), delivered lately (stays).
    const alert = JSON.stringify({ level: 'WARNING', message: 'test' });
    for (const [relayed, created] of [
      [daysAgo(100), daysAgo(100)],
      [daysAgo(99), daysAgo(100)],
      [null, daysAgo(100)],
      [daysAgo(1), daysAgo(1)],
    ] as const)
      await ds.query(
        "INSERT INTO alert_outbox (fingerprint, channel, alert, created_at, relayed_at, attempts) VALUES ('monitor:freshness', 'queue', ?, ?, ?, 1)",
        [alert, created, relayed],
      );
    // Current state, however old.
    await ds.query(
      `INSERT INTO alert_states (fingerprint, state, level, script, error_type, message, resolved_at, notify_count, updated_at)
       VALUES ('monitor:freshness', 'resolved', 'ERROR', 'monitor', 'system error', 'no sync', ?, 2, ?)`,
      [daysAgo(300), daysAgo(300)],
    );
    await ds.query(
      `INSERT INTO organizations (id, name, is_customer, sync_state, last_synced_at, created_at, updated_at)
       VALUES (7, 'Old Customer', 1, 'synced', ?, ?, ?)`,
      [daysAgo(400), daysAgo(400), daysAgo(400)],
    );
  });

  const KEPT_RUNS = ['oldAlertsOwed', 'oldFull', 'oldRunning', 'recent1', 'recent2', 'recent3', 'recentCleanup'].sort();

  async function expectPruned() {
    expect(await remainingRuns()).toEqual(KEPT_RUNS);
    // Outcomes and batches of the running run stay with it; the old full run's outcomes are history.
    expect(await count('SELECT COUNT(*) AS n FROM record_outcomes WHERE run_id = ?', [ids.oldRunning])).toBe(4);
    expect(await count('SELECT COUNT(*) AS n FROM record_outcomes')).toBe(4 + 9);
    expect(await count('SELECT COUNT(*) AS n FROM run_batches WHERE run_id = ?', [ids.oldRunning])).toBe(2);
    expect(await count('SELECT COUNT(*) AS n FROM run_batches')).toBe(2 + 3);
    expect(await ds.query('SELECT check_name AS c, COUNT(*) AS n FROM check_results GROUP BY check_name')).toEqual([
      { c: 'freshness', n: '2' },
      { c: 'retired-check', n: '1' },
    ]);
    expect(await count("SELECT COUNT(*) AS n FROM check_results WHERE message = 'retired-check 200 d'")).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM alert_outbox WHERE relayed_at IS NULL')).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM alert_outbox')).toBe(2);
    expect(await count('SELECT COUNT(*) AS n FROM alert_states')).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM organizations WHERE id = 7')).toBe(1);
    expect((await worker.ctx.runs.get(ids.oldRunning!))!.status).toBe('running');
  }

  it('removes what is older than RETENTION_DAYS, keeps current state, running runs and what decisions read; twice changes nothing', async () => {
    const before = {
      lastFull: (await worker.ctx.runs.lastCompleteListing(new Date(0), { full: true }))!.id,
      lastSuccess: (await worker.ctx.runs.lastSuccessfulSync(new Date(0)))!.id,
    };
    const first = await prune();
    expect(first).toMatchObject({
      retentionDays: 90,
      complete: true,
      deleted: { outcomes: 25 + 5 + 1, batches: 3, runs: 4, checks: 6 + 2, alerts: 2 },
    });
    await expectPruned();
    // The questions decisions ask get the same answers.
    expect((await worker.ctx.runs.lastCompleteListing(new Date(0), { full: true }))!.id).toBe(before.lastFull);
    expect((await worker.ctx.runs.lastSuccessfulSync(new Date(0)))!.id).toBe(before.lastSuccess);

    const second = await prune();
    expect(second).toMatchObject({
      complete: true,
      deleted: { outcomes: 0, batches: 0, runs: 0, checks: 0, alerts: 0 },
    });
    await expectPruned();
  });

  it('stopped after one chunk, it has deleted that chunk only; the next prune finishes the rest', async () => {
    const partial = await prune({ chunkSize: 10, maxChunks: 1 });
    expect(partial).toMatchObject({ complete: false, statements: 1, deleted: { outcomes: 10, runs: 0, checks: 0 } });
    expect(await count('SELECT COUNT(*) AS n FROM record_outcomes WHERE run_id = ?', [ids.oldIncremental])).toBe(15);
    expect(await count('SELECT COUNT(*) AS n FROM runs')).toBe(11);
    expect(await count('SELECT COUNT(*) AS n FROM check_results')).toBe(11);

    const rest = await prune({ chunkSize: 10 });
    expect(rest).toMatchObject({
      complete: true,
      deleted: { outcomes: 15 + 5 + 1, batches: 3, runs: 4, checks: 8, alerts: 2 },
    });
    await expectPruned();
    expect((await prune({ chunkSize: 10 })).deleted).toEqual({
      outcomes: 0,
      batches: 0,
      runs: 0,
      checks: 0,
      alerts: 0,
    });
  });
});
