import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CheckResultEntity, type DataSource } from '@pcs/db';
import { enqueue } from '@pcs/queues';
import { checkJobs } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { waitFor } from '../../../test/support/index.js';

/** sync-status and consistency at their thresholds, on database rows set up by the test. */
describe('sync-status and consistency checks', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let ds: DataSource;
  const run = async (name: 'sync-status' | 'consistency') => {
    const job = await enqueue(worker.ctx.queues, checkJobs[name], { trigger: 'test' });
    await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 30_000, what: name });
    return (await ds.getRepository(CheckResultEntity).findOne({ where: { check: name }, order: { id: 'DESC' } }))!;
  };
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
  async function orgs(n: number, state: string, createdHoursAgo = 0, from = 1) {
    for (let i = 0; i < n; i++)
      await ds.query(
        'INSERT INTO organizations (id, name, is_customer, sync_state, created_at) VALUES (?, ?, 1, ?, ?)',
        [from + i, `Org ${from + i}`, state, hoursAgo(createdHoursAgo)],
      );
  }
  async function runRow(status: string, minutesAgo: number, extra: Record<string, unknown> = {}) {
    const id = randomUUID();
    await ds.query(
      'INSERT INTO runs (id, type, mode, trigger_source, status, started_at, listing_started_at, finished_at, listing_complete, error_type, error_message, details, alerts_done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 1)',
      [
        id,
        'sync',
        extra.mode ?? 'incremental',
        'test',
        status,
        new Date(Date.now() - minutesAgo * 60_000),
        new Date(Date.now() - minutesAgo * 60_000),
        new Date(Date.now() - minutesAgo * 60_000 + 1000),
        status === 'failed' ? 'auth issue' : null,
        status === 'failed' ? 'Pipedrive rejected the API token (401)' : null,
        extra.details ? JSON.stringify(extra.details) : null,
      ],
    );
    return id;
  }
  async function outcomes(runId: string, total: number, failed: number) {
    for (let i = 0; i < total; i++)
      await ds.query('INSERT INTO record_outcomes (run_id, org_id, outcome, created_at) VALUES (?, ?, ?, NOW(3))', [
        runId,
        i + 1,
        i < failed ? 'failed' : 'updated',
      ]);
  }

  beforeAll(async () => {
    stack = await createStack('checks', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'monitor' }), { console: false });
    ds = await stack.ds();
  });
  beforeEach(async () => {
    for (const t of ['organizations', 'runs', 'record_outcomes', 'alert_states']) await ds.query(`DELETE FROM ${t}`);
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('stale records: unsynced for more than MAX_SYNC_AGE_HOURS warns, newer ones do not', async () => {
    await orgs(4, 'pending', 1.9, 1);
    await orgs(3, 'synced', 5, 100);
    let r = await run('sync-status');
    expect(r.status).toBe('ok');
    expect(r.details).toMatchObject({ unsynced: 4, stale: 0 });
    await orgs(2, 'failed', 2.1, 200);
    r = await run('sync-status');
    expect(r.status).toBe('warning');
    expect(r.details).toMatchObject({ unsynced: 6, stale: 2 });
  });

  it('error rate: exactly ALERT_ERROR_THRESHOLD is fine, above it warns', async () => {
    const id = await runRow('partial', 30);
    await outcomes(id, 20, 2); // 10 %
    expect((await run('sync-status')).status).toBe('ok');
    await ds.query('UPDATE record_outcomes SET outcome = ? WHERE org_id = 3', ['failed']); // 15 %
    const r = await run('sync-status');
    expect(r.status).toBe('warning');
    expect(r.details).toMatchObject({ errorRate: 15, failed24h: 3 });
  });

  it('consecutive failures: three failed runs in a row are critical, a success in between is not', async () => {
    await runRow('failed', 30);
    await runRow('succeeded', 20);
    await runRow('failed', 10);
    await runRow('failed', 5);
    expect((await run('sync-status')).details).toMatchObject({ consecutiveFailed: false });
    await runRow('failed', 1);
    const r = await run('sync-status');
    expect(r.status).toBe('critical');
    expect(r.details).toMatchObject({ consecutiveFailed: true });
  });

  it('consistency: more than 10 % and more than 10 apart warns; sync rate under 90 % warns', async () => {
    await orgs(95, 'synced', 0, 1);
    await runRow('succeeded', 5, { mode: 'full', details: { customers: 105 } }); // 10 apart: fine
    expect((await run('consistency')).status).toBe('ok');
    await runRow('succeeded', 1, { mode: 'full', details: { customers: 107 } }); // 12 apart, 11.2 %
    const r = await run('consistency');
    expect(r.status).toBe('warning');
    expect(r.message).toMatch(/Pipedrive listed 107 customers/);
    await ds.query('DELETE FROM runs');
    await orgs(11, 'pending', 0, 500); // 95 of 106 synced = 89.6 %
    const rate = await run('consistency');
    expect(rate.status).toBe('warning');
    expect(rate.details).toMatchObject({ customers: 106, synced: 95 });
  });
});
