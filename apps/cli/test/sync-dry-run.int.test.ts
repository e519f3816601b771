import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { RunHistory } from '@pcs/sync';
import { startWorker, type RunningWorker } from '../../worker/src/worker.js';
import { runCli } from '../../../test/support/processes.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { chatwootWrites, CUSTOMER } from '../../../test/support/sim-data.js';

/** The CLI as a process, asynchronously: the worker of this test process must go on meanwhile. */
const manage = (args: string[], env: Record<string, string>) => runCli(args, env, 90_000);

/**
 * `manage sync --dry-run` (docs/contract.md §2), the CLI as a process against a worker and the
 * simulator: the plan by org id (create, adopt with the contact id, update with the fields,
 * unchanged), and no write to Chatwoot nor to the stored hashes or contact ids.
 */
describe('manage sync --dry-run', () => {
  let stack: TestStack;
  let worker: RunningWorker | undefined;
  const ids = { renamed: 0, same: 0, fresh: 0, legacy: 0 };
  let legacyContactId = 0;
  const firstRunId = randomUUID();

  /** What a sync stores per organization. */
  const mirror = async () =>
    (await (
      await stack.ds()
    ).query(
      'SELECT id, content_hash, chatwoot_contact_id, sync_state, last_synced_at FROM organizations ORDER BY id',
    )) as Record<string, unknown>[];

  beforeAll(async () => {
    stack = await createStack('syncdry', { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *' });
    const pd = stack.sim.pipedrive;
    ids.renamed = pd.upsertOrg({ name: 'Renamed Pty Ltd', label_ids: [CUSTOMER] }).id;
    ids.same = pd.upsertOrg({ name: 'Same Pty Ltd', label_ids: [CUSTOMER] }).id;
    pd.upsertPerson({ org_id: ids.renamed, name: 'Ro', emails: ['ro@renamed.example'] });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync' }), { console: false });
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'full', trigger: 'test', runId: firstRunId });
    expect((await stack.waitForRun(firstRunId, 60_000)).created).toBe(2);

    // Since then: a rename, a new customer, and a customer the original deployment knew.
    pd.upsertOrg({ id: ids.renamed, name: 'Renamed Holdings Pty Ltd' });
    ids.fresh = pd.upsertOrg({ name: 'Fresh Pty Ltd', label_ids: [CUSTOMER] }).id;
    ids.legacy = pd.upsertOrg({ name: 'Legacy Pty Ltd', label_ids: [CUSTOMER] }).id;
    legacyContactId = stack.sim.chatwoot.seedContact({
      name: 'Old Deployment Customer',
      email: 'old@legacy.example',
      custom_attributes: { pipedrive_org_id: ids.legacy, status: 'Customer' },
    }).id;
  }, 120_000);
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('lists the plan by org id and writes nothing; the next real sync does the writes', async () => {
    const before = await mirror();
    const contactsBefore = JSON.stringify(stack.sim.chatwoot.listAllContacts());
    stack.sim.resetStats();

    const res = await manage(['sync', '--full', '--dry-run', '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({
      status: 'succeeded',
      dryRun: true,
      created: 1,
      adopted: 1,
      updated: 1,
      unchanged: 1,
      failed: 0,
      planTotal: 4,
      planTruncated: false,
    });
    const byOrg = Object.fromEntries((doc.plan as { orgId: number }[]).map((e) => [e.orgId, e])) as Record<
      number,
      unknown
    >;
    expect(byOrg[ids.fresh]).toEqual({ orgId: ids.fresh, action: 'create' });
    expect(byOrg[ids.legacy]).toMatchObject({ orgId: ids.legacy, action: 'adopt', contactId: legacyContactId });
    expect(byOrg[ids.renamed]).toMatchObject({
      orgId: ids.renamed,
      action: 'update',
      fields: ['name', 'additional_attributes.company_name'],
    });
    expect(byOrg[ids.same]).toEqual({ orgId: ids.same, action: 'unchanged' });

    // Nothing written: no Chatwoot write (not even attribute definitions), no hash or contact id stored.
    expect(chatwootWrites(stack.sim)).toBe(0);
    expect(JSON.stringify(stack.sim.chatwoot.listAllContacts())).toBe(contactsBefore);
    // The listing mirrors Pipedrive as usual (the new organizations appear), but stores no sync result.
    const after = await mirror();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)).toEqual([
      expect.objectContaining({ content_hash: null, chatwoot_contact_id: null, last_synced_at: null }),
      expect.objectContaining({ content_hash: null, chatwoot_contact_id: null, last_synced_at: null }),
    ]);

    // No decision counts it: not the last complete listing, nor the last successful sync; no /metrics count.
    const history = new RunHistory(await stack.ds());
    expect((await history.lastCompleteListing(new Date(0)))?.id).toBe(firstRunId);
    expect((await history.lastSuccessfulSync(new Date(0)))?.id).toBe(firstRunId);
    const counted = (await (
      await stack.ds()
    ).query("SELECT labels, value FROM metric_counters WHERE name = 'pcs_sync_runs_total'")) as { value: unknown }[];
    expect(counted.reduce((n, r) => n + Number(r.value), 0)).toBe(1);

    // The human plan: a readable table of what would change.
    const human = await manage(['sync', '--full', '--dry-run'], stack.env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('DRY RUN');
    expect(human.stdout).toMatch(new RegExp(`${ids.renamed}\\s+update\\s+\\d+\\s+name`));
    expect(human.stdout).toMatch(new RegExp(`${ids.legacy}\\s+adopt\\s+${legacyContactId}\\b`));
    expect(human.stdout).toMatch(new RegExp(`${ids.fresh}\\s+create\\s+-`));
    expect(chatwootWrites(stack.sim)).toBe(0);

    // One organization's story shows the plan as a plan, not as a write.
    const org = await manage(['org', String(ids.renamed), '--json'], stack.env);
    expect(org.code, org.stderr).toBe(0);
    expect((JSON.parse(org.stdout) as { outcomes: { outcome: string; message: string }[] }).outcomes[0]).toMatchObject({
      outcome: 'would be updated (dry run)',
      message: expect.stringMatching(/fields name/) as string,
    });

    // A dry run is no sync: the next incremental run still sees every change and writes it.
    const real = await manage(['sync', '--wait', '--json'], stack.env);
    expect(real.code, real.stderr).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ status: 'succeeded', created: 1, adopted: 1, updated: 1 });
    const contacts = stack.sim.chatwoot.listAllContacts();
    expect(contacts.find((c) => c.id === legacyContactId)?.identifier).toBe(`pipedrive:org:${ids.legacy}`);
    expect(contacts.find((c) => c.identifier === `pipedrive:org:${ids.renamed}`)?.name).toBe(
      'Renamed Holdings Pty Ltd',
    );
    expect(contacts.some((c) => c.identifier === `pipedrive:org:${ids.fresh}`)).toBe(true);
  }, 180_000);
});
