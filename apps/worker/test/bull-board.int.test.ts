import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '@pcs/queues';
import { cleanupRunJob, syncRunJob } from '@pcs/jobs';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { CUSTOMER } from '../../../test/support/sim-data.js';
import { waitFor } from '../../../test/support/index.js';

const AUTH = 'Basic ' + Buffer.from('ops:correct horse').toString('base64');

interface BoardJob {
  id: string;
  name: string;
  progress: unknown;
  data: { runId?: string; batch?: number; orgIds?: number[] };
}

/**
 * What an operator sees of a run in Bull Board (docs/contract.md §4, /admin/queues): the listing and batch jobs
 * of a finished sync, read through Bull Board's own JSON API (what its UI calls) on a real
 * dashboard process behind Basic auth, carry their progress and their log lines.
 */
describe('Bull Board shows what a run did', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let dashboard: AppProcess;
  let board: string;
  const ids = { broken: 0, fine: [] as number[] };

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${board}/admin/queues/api${path}`, { headers: { authorization: AUTH } });
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  };
  const completedJobs = async (queue: 'sync' | 'cleanup') => {
    const body = await api<{ queues: { name: string; jobs: BoardJob[] }[] }>(
      `/queues?activeQueue=${queue}&status=completed&page=1`,
    );
    return body.queues.find((q) => q.name === queue)!.jobs;
  };

  beforeAll(async () => {
    stack = await createStack('board', {
      BATCH_SIZE: '2',
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      DASHBOARD_USER: 'ops',
      DASHBOARD_PASSWORD: 'correct horse',
    });
    const pd = stack.sim.pipedrive;
    const org = (name: string) => pd.upsertOrg({ name, label_ids: [CUSTOMER] }).id;
    ids.broken = org('Broken Identifier Ltd');
    ids.fine = [org('Fine One'), org('Fine Two')];
    pd.upsertPerson({ org_id: ids.fine[0]!, name: 'Fin One', emails: ['one@fine.example'] });
    // Two contacts carry the broken org's identifier (made outside Chatwoot's validations): the
    // sync finds one, and Chatwoot refuses every write to it ("Identifier has already been taken").
    for (const name of ['Twin A', 'Twin B'])
      stack.sim.chatwoot.seedContact({ name, identifier: `pipedrive:org:${ids.broken}` });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,cleanup' }), { console: false });
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    const port = await waitFor(() => /"port":(\d+),"board"/.exec(dashboard.output())?.[1], {
      timeoutMs: 20_000,
      what: 'the dashboard to listen',
    });
    board = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await dashboard?.stop();
    await worker?.stop('test');
    await stack?.close();
  });

  it('shows the listing job and each batch job with their progress and log lines', async () => {
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    const run = await stack.waitForRun(runId);
    expect(run).toMatchObject({ status: 'partial', created: 2, failed: 1 });

    // The listing job: how far it got, and what it queued.
    const jobs = await waitFor(
      async () => {
        const all = (await completedJobs('sync')).filter((j) => j.data.runId === runId);
        return all.filter((j) => j.name === 'sync-batch').length === 2 ? all : undefined;
      },
      { what: 'the run’s jobs to be completed in Bull Board' },
    );
    const listing = jobs.find((j) => j.name === 'sync-run')!;
    expect(listing.progress).toMatchObject({
      phase: 'listed',
      pages: 1,
      orgsListed: 3,
      batchesQueued: 2,
      batchesTotal: 2,
    });
    const listingLog = await api<string[]>(`/queues/sync/${encodeURIComponent(listing.id)}/logs`);
    expect(listingLog.join('\n')).toMatch(/listed \(full\): 1 organization page\(s\) with 3 organization\(s\)/);
    expect(listingLog.join('\n')).toMatch(/3 customer\(s\) queued in 2 batch\(es\)/);

    // The batch that holds the broken organization: its counts, and the org with its reason.
    const batches = jobs.filter((j) => j.name === 'sync-batch');
    for (const b of batches) {
      const n = b.data.orgIds!.length;
      expect(b.progress).toEqual({ orgsDone: n, orgsTotal: n });
    }
    const withBroken = batches.find((b) => b.data.orgIds!.includes(ids.broken))!;
    const log = await api<string[]>(`/queues/sync/${encodeURIComponent(withBroken.id)}/logs`);
    const text = log.join('\n');
    expect(text).toMatch(/^batch \d of run .*: created 1, updated 0, adopted 0, unchanged 0, warning 0, failed 1$/m);
    expect(text).toContain(`organization ${ids.broken} failed (conflict)`);
    expect(text).toMatch(/Identifier has already been taken/);
    // Every outcome is in one batch log or the other, and the run's totals in the last one's.
    const all = (
      await Promise.all(batches.map((b) => api<string[]>(`/queues/sync/${encodeURIComponent(b.id)}/logs`)))
    ).flat();
    expect(all.filter((l) => /^batch /.test(l))).toHaveLength(2);
    expect(all.join('\n')).toMatch(new RegExp(`^run ${runId} partial: created 2, .* failed 1$`, 'm'));
    // No secret in anything Bull Board shows.
    expect(JSON.stringify([jobs, listingLog, all])).not.toContain(stack.env.CHATWOOT_API_KEY);
  });

  it('shows a cleanup job with its changes done of total and its counts', async () => {
    // Fine Two is no longer a customer: its contact is marked (forced: one of few is a large share).
    stack.sim.pipedrive.upsertOrg({ id: ids.fine[1]!, label_ids: [] });
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, cleanupRunJob, {
      dryRun: false,
      force: true,
      mergeDuplicates: false,
      trigger: 'test',
      runId,
    });
    expect(await stack.waitForRun(runId)).toMatchObject({ status: 'succeeded', marked: 1 });
    const job = await waitFor(
      async () => (await completedJobs('cleanup')).find((j) => j.name === 'cleanup-run' && j.data.runId === runId),
      { what: 'the cleanup job to be completed in Bull Board' },
    );
    expect(job.progress).toMatchObject({ phase: 'done', changesDone: 1, changesTotal: 1 });
    expect((job.progress as { contactsListed: number }).contactsListed).toBeGreaterThanOrEqual(2);
    const log = await api<string[]>(`/queues/cleanup/${encodeURIComponent(job.id)}/logs`);
    expect(log.join('\n')).toMatch(/^cleanup succeeded: .* marked 1, deleted 0, skipped 0, failed 0$/m);
  });
});
