import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@pcs/config';
import { openDatabase, RecordOutcomeEntity, type DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { reapRuns, Runs, type Liveness, type OutcomeRecord } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the runs module (the one writer of run state)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let runs: Runs;
  const config = parseConfig({ MYSQL_USER: 'root' });
  const quiet = () => undefined;
  const log = { info: quiet, warn: quiet, error: quiet, debug: quiet } as unknown as Logger;
  beforeAll(async () => {
    db = await createTestDatabase('runs');
    ds = (await openDatabase(db.config)).ds;
    runs = new Runs(ds);
  });
  afterAll(async () => {
    await ds.destroy();
    await db.drop();
  });
  const clean = () => ds.query('DELETE FROM runs');

  it('one sync and one cleanup at a time: a second sync is a duplicate, a cleanup is blocked, a retried job resumes', async () => {
    await clean();
    const first = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test', jobId: 'j1' });
    expect(first.state).toBe('started');
    expect((await runs.begin({ type: 'sync', mode: 'incremental', trigger: 'test' })).state).toBe('duplicate');
    expect((await runs.begin({ type: 'cleanup', mode: 'mark', trigger: 'test' })).state).toBe('blocked');
    const again = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test', runId: first.run.id });
    expect(again).toMatchObject({ state: 'resumed', run: { id: first.run.id } });
    // Concurrent begins agree: exactly one starts.
    await runs.abort(first.run.id);
    const racing = await Promise.all(
      Array.from({ length: 6 }, () => new Runs(ds).begin({ type: 'cleanup', mode: 'mark', trigger: 'test' })),
    );
    expect(racing.filter((r) => r.state === 'started')).toHaveLength(1);
  });

  it('stamps runs with the database clock', async () => {
    await clean();
    const [{ now }] = (await ds.query('SELECT UTC_TIMESTAMP(3) AS now')) as [{ now: Date }];
    const { run } = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test' });
    expect(Math.abs(run.startedAt.getTime() - new Date(now).getTime())).toBeLessThan(2_000);
    expect(run.leaseUntil!.getTime() - run.startedAt.getTime()).toBe(120_000);
  });

  it('every transition is guarded by the state it expects: an ended run stays ended', async () => {
    await clean();
    const { run } = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test' });
    expect(await runs.startListing(run.id, { mode: 'full', details: { legacyLookup: true } })).toBe(true);
    const failed = await runs.fail(run.id, { kind: 'database', source: 'database', message: 'gone' });
    expect(failed).toMatchObject({
      status: 'failed',
      errorKind: 'database',
      errorSource: 'database',
      errorType: 'database connection failure',
      leaseUntil: null,
    });
    // Whoever comes second changes nothing.
    expect(await runs.fail(run.id, { kind: 'transient', message: 'again' })).toBeUndefined();
    expect(await runs.abort(run.id)).toBeUndefined();
    expect(await runs.progress(run.id)).toBe(false);
    expect(await runs.completeListing(run.id, { batchesTotal: 0 })).toBe(false);
    expect(await runs.finishIfDone(run.id)).toBeUndefined();
    expect((await runs.get(run.id))!.errorMessage).toBe('gone');
  });

  it('a batch recorded twice counts once; the run finishes when every batch has ended', async () => {
    await clean();
    const { run } = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test' });
    await runs.completeListing(run.id, { batchesTotal: 2 });
    const batch: OutcomeRecord[] = [
      { orgId: 1, action: 'created' },
      { orgId: 2, action: 'updated', warning: 'email left off' },
      { orgId: 3, action: 'failed', errorType: 'transient', message: '503' },
    ];
    await runs.recordOutcomes(run.id, batch, { batchDone: 0 });
    // The same batch again (a stalled job run twice): nothing more.
    await runs.recordOutcomes(run.id, batch, { batchDone: 0 });
    let r = (await runs.get(run.id))!;
    expect(r).toMatchObject({ processed: 3, created: 1, updated: 1, failed: 1, warnings: 1, batchesDone: 1 });
    expect(await ds.getRepository(RecordOutcomeEntity).countBy({ runId: run.id })).toBe(3);
    expect(await runs.finishIfDone(run.id)).toBeUndefined();
    await runs.recordOutcomes(run.id, [{ orgId: 4, action: 'unchanged' }], { batchDone: 1 });
    r = (await runs.finishIfDone(run.id))!;
    expect(r).toMatchObject({ status: 'partial', processed: 4, batchesDone: 2 });
    expect(await runs.finishIfDone(run.id)).toBeUndefined();
  });

  it('the reaper ends a run whose jobs are lost, leaves a live one, and finishes a sync whose batches all ended', async () => {
    await clean();
    const quick = new Runs(ds, { leaseSeconds: 0 });
    const lost = await quick.beginTargeted({ trigger: 'test', jobId: 'lost', details: {} });
    const done = (await quick.begin({ type: 'sync', mode: 'full', trigger: 'test', jobId: 'done' })).run;
    await quick.completeListing(done.id, { batchesTotal: 1 });
    await quick.recordOutcomes(done.id, [{ orgId: 1, action: 'created' }], { batchDone: 0 });
    await sleep(20);
    const ended: string[] = [];
    const inspect = async (run: { id: string; jobId: string | null }): Promise<Liveness> =>
      run.jobId === 'lost' ? { alive: false, failure: { kind: 'lost', message: 'its job is gone' } } : { alive: true };
    const result = await reapRuns({ runs, config, log, onRunEnded: async (r) => void ended.push(r.id) }, inspect);
    expect(result).toEqual(
      expect.arrayContaining([
        { runId: lost.id, outcome: 'failed', reason: 'its job is gone' },
        { runId: done.id, outcome: 'finished' },
      ]),
    );
    expect((await runs.get(lost.id))!).toMatchObject({
      status: 'failed',
      errorKind: 'lost',
      errorType: 'system error',
    });
    expect((await runs.get(done.id))!.status).toBe('succeeded');
    expect(ended.sort()).toEqual([lost.id, done.id].sort());
    // The alerts of both ends were evaluated: nothing left for the sweep.
    expect(await runs.awaitingAlerts()).toEqual([]);
  });

  it('the reaper never finishes a cleanup or a targeted run behind its job: it asks the job', async () => {
    await clean();
    const quick = new Runs(ds, { leaseSeconds: 0 });
    // Both are "listed" from their start, with nothing left to count: only their job says whether they run.
    const cleanup = (await quick.begin({ type: 'cleanup', mode: 'mark', trigger: 'test', jobId: 'c' })).run;
    await quick.completeListing(cleanup.id, { batchesTotal: 0 });
    const targeted = await quick.beginTargeted({ trigger: 'test', jobId: 't', details: {} });
    await sleep(20);
    const seen: string[] = [];
    const result = await reapRuns({ runs, config, log }, async (run) => {
      seen.push(run.id);
      return { alive: true };
    });
    expect(seen.sort()).toEqual([cleanup.id, targeted.id].sort());
    expect(result.map((r) => r.outcome)).toEqual(['alive', 'alive']);
    expect((await runs.get(cleanup.id))!.status).toBe('running');
    expect((await runs.get(targeted.id))!.status).toBe('running');
  });

  it('the reaper leaves a run alone that moved after it looked', async () => {
    await clean();
    const { run } = await new Runs(ds, { leaseSeconds: 0 }).begin({ type: 'sync', mode: 'full', trigger: 'test' });
    await sleep(20);
    const result = await reapRuns({ runs, config, log }, async () => {
      // Progress between the reaper's look and its decision.
      await runs.progress(run.id);
      return { alive: false, failure: { kind: 'lost', message: 'looked lost' } };
    });
    expect(result).toEqual([]);
    expect((await runs.get(run.id))!.status).toBe('running');
  });

  it('the last successful sync and the last complete listing count only runs since the target changed', async () => {
    await clean();
    const done = async (mode: 'full' | 'incremental') => {
      const { run } = await runs.begin({ type: 'sync', mode, trigger: 'test' });
      await runs.startListing(run.id, { mode, details: {} });
      await runs.completeListing(run.id, { batchesTotal: 0 });
      return (await runs.finishIfDone(run.id))!;
    };
    const full = await done('full');
    const incremental = await done('incremental');
    expect((await runs.lastSuccessfulSync(new Date(0)))!.id).toBe(incremental.id);
    expect((await runs.lastCompleteListing(new Date(0), { full: true }))!.id).toBe(full.id);
    const later = new Date(incremental.finishedAt!.getTime() + 1_000);
    expect(await runs.lastSuccessfulSync(later)).toBeNull();
    expect(await runs.lastCompleteListing(later)).toBeNull();
  });

  it('answers each question over the right modes and statuses, newest first, whatever the targeted runs around them', async () => {
    await clean();
    const base = Date.now() - 3_600_000;
    const row = async (mode: string, status: string, minute: number, complete = status !== 'failed') => {
      const id = randomUUID();
      const at = new Date(base + minute * 60_000);
      await ds.query(
        `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, listing_started_at, finished_at, listing_complete)
         VALUES (?, ?, ?, 'test', ?, ?, ?, ?, ?)`,
        [
          id,
          ['mark', 'delete', 'dry-run'].includes(mode) ? 'cleanup' : 'sync',
          mode,
          status,
          at,
          at,
          status === 'running' ? null : new Date(at.getTime() + 30_000),
          complete ? 1 : 0,
        ],
      );
      return id;
    };
    const full = await row('full', 'succeeded', 1);
    const partial = await row('incremental', 'partial', 2);
    const cleanup = await row('mark', 'refused', 3);
    const broken = await row('incremental', 'failed', 4);
    const failed = await row('full', 'failed', 5);
    // Targeted runs are newer than all of them (and complete): no listing question may see them.
    for (let m = 6; m < 30; m++) await row('webhook', m % 5 ? 'succeeded' : 'failed', m, true);
    const running = await row('incremental', 'running', 31);
    const ids = (rs: { id: string }[]) => rs.map((r) => r.id);

    expect((await runs.lastCompleteListing(new Date(0)))!.id).toBe(partial);
    expect((await runs.lastCompleteListing(new Date(0), { full: true }))!.id).toBe(full);
    expect((await runs.lastSuccessfulSync(new Date(0)))!.id).toBe(partial);
    expect((await runs.firstSync(new Date(0)))!.id).toBe(full);
    expect((await runs.firstSync(new Date(base + 90_000)))!.id).toBe(partial);
    expect((await runs.latest('sync'))!.id).toBe(running);
    expect((await runs.latest('cleanup'))!.id).toBe(cleanup);
    expect(ids(await runs.recentEndedSyncs(3))).toEqual([failed, broken, partial]);
    expect(ids(await runs.recent(4))).toEqual([running, failed, broken, cleanup, partial]);
    expect(ids(await runs.recent(20))).toEqual([running, failed, broken, cleanup, partial, full]);
    expect(await runs.decisive(new Date(0))).toEqual(new Set([partial, full, running, cleanup, failed, broken]));
    // No successful sync since: the first sync is what the freshness check measures from, so it is kept.
    const since = new Date(base + 3.5 * 60_000);
    expect(await runs.lastSuccessfulSync(since)).toBeNull();
    expect(await runs.decisive(since)).toEqual(new Set([broken, running, cleanup, failed, partial]));
  });
});
