import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@pcs/config';
import { cleanupRunJob, syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { startWorker, type RunningWorker } from '../../worker/src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { CUSTOMER } from '../../../test/support/sim-data.js';

function manage(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/**
 * `manage org <id>` (docs/contract.md §2) on states built by the real sync and cleanup against the
 * simulator: a synced org, one whose phone Chatwoot refused (held by another contact), one that
 * stopped being a customer and was marked by cleanup, and one the sync never saw.
 */
describe('manage org', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  const ids = { synced: 0, refused: 0, former: 0 };
  const runs: { first: string; second: string; cleanup: string } = { first: '', second: '', cleanup: '' };

  async function run(job: 'sync' | 'cleanup'): Promise<string> {
    const runId = randomUUID();
    if (job === 'sync') await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId });
    else
      await enqueue(worker.ctx.queues, cleanupRunJob, {
        dryRun: false,
        force: false,
        mergeDuplicates: false,
        trigger: 'test',
        runId,
      });
    const ended = await stack.waitForRun(runId, 60_000);
    expect(ended.status, `${job} run ${runId}`).not.toBe('failed');
    return runId;
  }

  beforeAll(async () => {
    stack = await createStack('org', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      CLEANUP_MAX_PERCENT: '100',
    });
    const pd = stack.sim.pipedrive;
    const org = (name: string) => pd.upsertOrg({ name, label_ids: [CUSTOMER] }).id;
    ids.synced = org('Synced Pty Ltd');
    ids.former = org('Former Customer Co');
    pd.upsertPerson({ org_id: ids.synced, name: 'Sue', emails: ['sue@synced.example'], phones: ['+61 412 000 111'] });
    pd.upsertPerson({ org_id: ids.former, name: 'Fay', emails: ['fay@former.example'] });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,cleanup' }), { console: false });
    runs.first = await run('sync');
    // Then: a new customer whose person has the phone the synced org's contact holds (Chatwoot
    // refuses it), and the former customer loses the label; the cleanup marks its contact.
    ids.refused = org('Taken Phone Ltd');
    pd.upsertPerson({ org_id: ids.refused, name: 'Tom', emails: ['tom@taken.example'], phones: ['+61 412 000 111'] });
    pd.upsertOrg({ id: ids.former, label_ids: [] });
    runs.second = await run('sync');
    runs.cleanup = await run('cleanup');
  }, 120_000);
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  const contactOf = (orgId: number) =>
    stack.sim.chatwoot.listAllContacts().find((c) => c.identifier === `pipedrive:org:${orgId}`)!;

  it('a synced org: customer by its label, its contact, when written and seen, and its outcomes per run', () => {
    const res = manage(['org', String(ids.synced), '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({
      orgId: ids.synced,
      name: 'Synced Pty Ltd',
      customer: true,
      customerReason: 'has the label "Customer" (PIPEDRIVE_CUSTOMER_LABEL)',
      customerBasis: { by: 'label', label: 'Customer', labelIds: [CUSTOMER] },
      deleted: false,
      contactId: contactOf(ids.synced).id,
      contactStatus: 'Customer',
      syncState: 'synced',
      // The cleanup's listing saw it last (it lists Pipedrive too).
      lastSeenRunId: runs.cleanup,
      persons: 1,
      leftOff: [],
      lastError: null,
    });
    for (const k of ['lastWrittenAt', 'lastAttemptAt', 'lastSeenAt']) expect(Date.parse(doc[k]), k).not.toBeNaN();
    expect(Date.parse(doc.lastAttemptAt)).toBeGreaterThanOrEqual(Date.parse(doc.lastWrittenAt));
    // Newest first: unchanged in the second run, created in the first.
    expect(doc.outcomes).toEqual([
      {
        runId: runs.second,
        type: 'sync',
        mode: 'full',
        at: expect.any(String),
        outcome: 'unchanged',
        errorType: null,
        message: null,
      },
      {
        runId: runs.first,
        type: 'sync',
        mode: 'full',
        at: expect.any(String),
        outcome: 'created',
        errorType: null,
        message: null,
      },
    ]);
  });

  it('a refused value: left off with the Pipedrive value and why, recorded as a warning of its run', () => {
    const res = manage(['org', String(ids.refused), '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(contactOf(ids.refused)).toMatchObject({ phone_number: null, email: 'tom@taken.example' });
    expect(doc).toMatchObject({ customer: true, syncState: 'warning', contactId: contactOf(ids.refused).id });
    expect(doc.leftOff).toEqual([
      {
        field: 'phone_number',
        value: expect.stringMatching(/412 ?000 ?111/),
        reason: expect.stringMatching(/Chatwoot refused .*not sent again until it changes in Pipedrive/),
      },
    ]);
    expect(doc.outcomes).toHaveLength(1);
    expect(doc.outcomes[0]).toMatchObject({ runId: runs.second, mode: 'full', outcome: 'warning' });
    expect(doc.outcomes[0].message).toMatch(/phone_number left off/);
  });

  it('a former customer: not a customer because the label is gone, its contact marked by the cleanup run', () => {
    const res = manage(['org', String(ids.former), '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({
      customer: false,
      customerReason: 'does not have the label "Customer" (PIPEDRIVE_CUSTOMER_LABEL)',
      deleted: false,
      contactId: contactOf(ids.former).id,
      contactStatus: 'Former customer',
    });
    expect(contactOf(ids.former).custom_attributes).toMatchObject({ status: 'Former customer' });
    expect(
      doc.outcomes.map((o: { runId: string; type: string; outcome: string }) => [o.runId, o.type, o.outcome]),
    ).toEqual([
      [runs.cleanup, 'cleanup', 'marked'],
      [runs.first, 'sync', 'created'],
    ]);
  });

  it('the human form: the fields, then a table of outcomes', () => {
    const res = manage(['org', String(ids.refused)], stack.env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`Organization ${ids.refused}: Taken Phone Ltd`);
    expect(res.stdout).toMatch(/Customer:\s+yes — has the label "Customer"/);
    expect(res.stdout).toMatch(/Contact:\s+\d+ \(Customer\)/);
    expect(res.stdout).toMatch(/Values left off:\n {2}phone_number ".*412.*": Chatwoot refused/);
    expect(res.stdout).toMatch(/WHEN\s+RUN\s+TYPE\s+MODE\s+OUTCOME\s+MESSAGE/);
    expect(res.stdout).toContain(runs.second);
  });

  it('an org the sync never saw exits 1 with one JSON document; a bad id exits 2', () => {
    const unknown = manage(['org', '987654321', '--json'], stack.env);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toEqual({
      error: { code: 1, message: expect.stringMatching(/organization 987654321 is unknown to the sync/) },
    });
    for (const bad of ['abc', '0', '99999999999999999999']) {
      const res = manage(['org', bad, '--json'], stack.env);
      expect(res.code, bad).toBe(2);
      expect(JSON.parse(res.stdout).error).toMatchObject({ code: 2, message: expect.stringContaining('<orgId>') });
    }
  });
});
