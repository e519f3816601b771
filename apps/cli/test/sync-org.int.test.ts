import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { startWorker, type RunningWorker } from '../../worker/src/worker.js';
import { waitFor } from '../../../test/support/index.js';
import { runCli } from '../../../test/support/processes.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { chatwootWrites, CUSTOMER } from '../../../test/support/sim-data.js';

/** The CLI as a process, asynchronously: the worker of this test process must go on meanwhile. */
const manage = (args: string[], env: Record<string, string>) => runCli(args, env, 90_000);

/**
 * `manage sync --org <id>[,<id>…]` (docs/contract.md §2), the CLI as a process against a worker and
 * the simulator: just the named organizations, now, whatever their stored hash.
 */
describe('manage sync --org', () => {
  let stack: TestStack;
  let worker: RunningWorker | undefined;
  const ids = { first: 0, second: 0, third: 0 };

  beforeAll(async () => {
    stack = await createStack('syncorg', { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *' });
    const pd = stack.sim.pipedrive;
    const org = (name: string) => pd.upsertOrg({ name, label_ids: [CUSTOMER] }).id;
    ids.first = org('First Pty Ltd');
    ids.second = org('Second Pty Ltd');
    ids.third = org('Third Pty Ltd');
    pd.upsertPerson({ org_id: ids.first, name: 'Fi', emails: ['fi@first.example'] });
    pd.upsertPerson({ org_id: ids.second, name: 'Sy', emails: ['sy@second.example'] });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
    const runId = randomUUID();
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    expect((await stack.waitForRun(runId, 60_000)).created).toBe(3);
  }, 120_000);
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  const contactOf = (orgId: number) =>
    stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${orgId}`)!;

  it('writes only the named organization, and writes it again when nothing changed (whatever its hash)', async () => {
    stack.sim.pipedrive.upsertOrg({ id: ids.first, name: 'First Renamed Pty Ltd' });
    stack.sim.pipedrive.upsertOrg({ id: ids.second, name: 'Second Renamed Pty Ltd' });
    stack.sim.resetStats();

    const res = await manage(['sync', '--org', String(ids.first), '--wait', '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({
      status: 'succeeded',
      mode: 'targeted',
      trigger: 'cli',
      processed: 1,
      created: 0,
      updated: 1,
      unchanged: 0,
      failed: 0,
      orgs: [{ orgId: ids.first, outcome: 'updated', runId: expect.any(String), message: null }],
    });
    expect(doc.runId).toBe(doc.orgs[0].runId);
    expect(doc.runIds).toEqual([doc.runId]);
    expect(contactOf(ids.first).name).toBe('First Renamed Pty Ltd');
    expect(contactOf(ids.second).name).toBe('Second Pty Ltd'); // not named: not synced
    expect(chatwootWrites(stack.sim)).toBe(1);

    // No change at all: a webhook's targeted sync would skip it (same hash); --org writes it.
    stack.sim.resetStats();
    const again = await manage(['sync', '--org', String(ids.first), '--wait', '--json'], stack.env);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second).toMatchObject({ status: 'succeeded', processed: 1, updated: 1, unchanged: 0 });
    expect(second.runId).not.toBe(doc.runId);
    expect(chatwootWrites(stack.sim)).toBe(1);
    expect(contactOf(ids.second).name).toBe('Second Pty Ltd');
  }, 120_000);

  it('several organizations: one line each in the human summary, an org gone from Pipedrive among them', async () => {
    const gone = 987_654;
    const res = await manage(['sync', '--org', `${ids.third}, ${gone},${ids.third}`, '--wait'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/targeted sync of 2 organizations: succeeded/);
    expect(res.stdout).toMatch(/processed 1: created 0, updated 1/);
    expect(res.stdout).toMatch(new RegExp(`^${ids.third}\\s+updated\\s+[0-9a-f-]{36}`, 'm'));
    expect(res.stdout).toMatch(new RegExp(`^${gone}\\s+gone\\s+-\\s+gone from Pipedrive`, 'm'));
  }, 120_000);

  it('refuses a bad id, naming it, and --org with --full (exit 2), before queueing anything', async () => {
    const queue = worker!.ctx.queues.sync;
    const jobs = async () => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const before = await jobs();
    const bad = await manage(['sync', '--org', `${ids.first},12x`, '--json'], stack.env);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.message).toMatch(/--org: "12x" is not an organization id/);
    expect((await manage(['sync', '--org', '0'], stack.env)).code).toBe(2);
    const both = await manage(['sync', '--org', String(ids.first), '--full'], stack.env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--org and --full/);
    expect(await jobs()).toBe(before);
  }, 60_000);

  it('without --wait prints what it queued; says so when no worker serves the sync queue', async () => {
    const res = await manage(['sync', '--org', String(ids.second), '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toEqual({ queued: [{ orgId: ids.second, jobId: expect.any(String) }] });
    expect(res.stderr).not.toMatch(/no worker/);
    await waitFor(() => (contactOf(ids.second).name === 'Second Renamed Pty Ltd' ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the queued targeted sync',
    });

    await worker!.stop('test');
    worker = undefined;
    const alone = await manage(['sync', '--org', String(ids.second)], stack.env);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stderr).toMatch(/no worker is serving the sync queue/);
    expect(alone.stdout).toMatch(new RegExp(`queued a targeted sync of organization ${ids.second} \\(job `));
  }, 90_000);
});
