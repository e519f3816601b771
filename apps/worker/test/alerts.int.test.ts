import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAlert } from '@pcs/notify';
import { enqueue } from '@pcs/queues';
import { alertJob, syncRunJob } from '@pcs/jobs';
import { readCounters } from '@pcs/sync';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { createStack, randomUUID, type TestStack } from '../../../test/support/stack.js';
import { runCli } from '../../../test/support/processes.js';
import { waitFor } from '../../../test/support/index.js';

describe('alert delivery to Google Chat', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  const alertsLog = () => {
    const dir = join(stack.env.LOG_DIR!, 'alerts');
    return readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  };
  async function deliver(fingerprint: string, message = 'Pipedrive API unreachable') {
    const job = await enqueue(
      worker.ctx.queues,
      alertJob,
      makeAlert({
        script: 'monitor',
        level: 'ERROR',
        error_type: 'API failure',
        message,
        details: { api: 'Pipedrive' },
        fingerprint,
      }),
    );
    await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), {
      timeoutMs: 30_000,
      what: 'the delivery to end',
    });
    return (await worker.ctx.queues.notifications.getJob(job.id!))!;
  }

  beforeAll(async () => {
    stack = await createStack('alerts', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'sync,notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('manage test-alerts --wait delivers an INFO card', async () => {
    const res = await runCli(['test-alerts', '--wait', '--json'], stack.env);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ delivered: true });
    const [msg] = stack.sim.gchat.messages();
    expect(msg!.fallbackText).toMatch(/^ℹ️ INFO: Test notification/);
    expect(JSON.stringify(msg!.cardsV2)).toContain('Pipedrive-Chatwoot Sync Alert');
  });

  it('429 then 503 then success: exactly one message, every attempt in alerts.log', async () => {
    stack.sim.gchat.clear();
    stack.sim.gchat.setFaults({
      fail: [
        { status: 429, count: 1 },
        { status: 503, count: 1 },
      ],
    });
    const job = await deliver('monitor:pipedrive-api:down');
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(3); // 429, 503, then delivered
    expect(stack.sim.gchat.messages()).toHaveLength(1);
    const log = alertsLog();
    expect(log).toMatch(/quota exceeded \(429\)/);
    expect(log).toMatch(/answered 503/);
    expect(log).toMatch(/alert delivered \(google-chat\)/);
  });

  it('counts a delivered notification once in pcs_alerts_sent_total, however many attempts it took; a refused one not', async () => {
    const sent = async () =>
      (await readCounters(worker.ctx.ds)).find(
        (c) => c.name === 'pcs_alerts_sent_total' && c.labels.level === 'ERROR' && c.labels.state === 'firing',
      )!.value;
    const before = await sent();
    stack.sim.gchat.setFaults({ fail: [{ status: 503, count: 1 }] });
    expect(await (await deliver('monitor:counted')).getState()).toBe('completed');
    stack.sim.gchat.setFaults({ fail: [{ status: 403, count: 1 }] });
    expect(await (await deliver('monitor:refused')).getState()).toBe('failed');
    expect(await sent()).toBe(before + 1);
  });

  it('messages of one fingerprint share a thread', async () => {
    stack.sim.gchat.clear();
    await deliver('sync:auth', 'first');
    await deliver('sync:auth', 'second');
    await deliver('other:thing', 'other');
    const [a, b, c] = stack.sim.gchat.messages();
    expect(a!.thread).toBe(b!.thread);
    expect(c!.thread).not.toBe(a!.thread);
  });

  it('403 is not retried: the job fails at once and alerts.log says why', async () => {
    stack.sim.gchat.setFaults({ fail: [{ status: 403, count: 1 }] });
    const job = await deliver('monitor:forbidden');
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/403/);
    expect(alertsLog()).toMatch(/alert delivery failed for good/);
  });

  it('a bad Pipedrive token: one ERROR across several runs, then one resolved message in the same thread', async () => {
    stack.sim.gchat.clear();
    stack.sim.pipedrive.upsertOrg({ name: 'Some Customer', label_ids: [17] });
    const sync = async () => {
      const runId = randomUUID();
      await enqueue(worker.ctx.queues, syncRunJob, { mode: 'incremental', trigger: 'test', runId });
      return stack.waitForRun(runId);
    };
    stack.sim.pipedrive.setFaults({ badToken: true });
    for (let i = 0; i < 3; i++) expect((await sync()).status).toBe('failed');
    stack.sim.pipedrive.clearFaults();
    expect((await sync()).status).not.toBe('failed');
    await waitFor(() => stack.sim.gchat.messages().length >= 2 || undefined, {
      timeoutMs: 20_000,
      what: 'two messages',
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const msgs = stack.sim.gchat.messages();
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.fallbackText).toMatch(/^🚨 ERROR: Sync run failed: .*401/);
    expect(JSON.stringify(msgs[0]!.cardsV2)).toContain('sync - auth issue');
    expect(msgs[1]!.fallbackText).toMatch(/^✅ RESOLVED/);
    expect(msgs[1]!.thread).toBe(msgs[0]!.thread);
    // no secret in any message
    for (const m of msgs) expect(JSON.stringify(m.body)).not.toMatch(/pd-test-token|cw-admin-token|sim-key|sim-token/);
  });

  it('manage sync --wait exits 1 when the run failed, 0 when it succeeded', async () => {
    stack.sim.pipedrive.setFaults({ badToken: true });
    const failed = await runCli(['sync', '--wait', '--json'], stack.env, 60_000);
    stack.sim.pipedrive.clearFaults();
    expect(JSON.parse(failed.stdout)).toMatchObject({ status: 'failed', errorType: 'auth issue' });
    expect(failed.code).toBe(1);
    const ok = await runCli(['sync', '--wait', '--json'], stack.env, 60_000);
    expect(ok.code).toBe(0);
    expect(['succeeded', 'partial']).toContain(JSON.parse(ok.stdout).status);
  });

  it('never writes the webhook key or token into alerts.log', () => {
    const log = alertsLog();
    expect(log).not.toContain('sim-key');
    expect(log).not.toContain('sim-token');
  });
});

describe('API health checks', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  beforeAll(async () => {
    stack = await createStack('apicheck', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
    });
    worker = await startWorker(stack.config({ WORKER_QUEUES: 'monitor,notifications' }), { console: false });
  });
  afterAll(async () => {
    await worker?.stop('test');
    await stack?.close();
  });

  it('a bad Pipedrive token: one critical alert across several checks, then resolved after the fix', async () => {
    const { checkJobs } = await import('@pcs/jobs');
    const { CheckResultEntity } = await import('@pcs/db');
    const def = checkJobs['pipedrive-api'];
    const ds = await stack.ds();
    const runCheck = async () => {
      const job = await enqueue(worker.ctx.queues, def, { trigger: 'test' });
      await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 30_000, what: 'the check' });
      return (await ds
        .getRepository(CheckResultEntity)
        .findOne({ where: { check: 'pipedrive-api' }, order: { id: 'DESC' } }))!;
    };
    stack.sim.pipedrive.setFaults({ badToken: true });
    for (let i = 0; i < 3; i++) expect((await runCheck()).status).toBe('critical');
    stack.sim.pipedrive.clearFaults();
    const ok = await runCheck();
    expect(ok.status).toBe('ok');
    expect(ok.message).toMatch(/Pipedrive API reachable/);
    await waitFor(() => stack.sim.gchat.messages().length >= 2 || undefined, {
      timeoutMs: 20_000,
      what: 'two messages',
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const msgs = stack.sim.gchat.messages();
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.fallbackText).toMatch(/^🚨 ERROR: Pipedrive rejected the credentials/);
    expect(JSON.stringify(msgs[0]!.cardsV2)).toContain('monitor - auth issue');
    expect(msgs[1]!.fallbackText).toMatch(/^✅ RESOLVED/);
    expect(msgs[1]!.thread).toBe(msgs[0]!.thread);
  });

  it('freshness: no successful sync for longer than MAX_SYNC_AGE_HOURS is critical', async () => {
    const { checkJobs } = await import('@pcs/jobs');
    const { CheckResultEntity, RunEntity } = await import('@pcs/db');
    const ds = await stack.ds();
    const def = checkJobs['freshness'];
    const runCheck = async () => {
      const job = await enqueue(worker.ctx.queues, def, { trigger: 'test' });
      await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 30_000, what: 'the check' });
      return (await ds
        .getRepository(CheckResultEntity)
        .findOne({ where: { check: 'freshness' }, order: { id: 'DESC' } }))!;
    };
    expect((await runCheck()).status).toBe('warning'); // no sync has run yet
    const hours = (h: number) => new Date(Date.now() - h * 3_600_000);
    await ds.getRepository(RunEntity).insert({
      id: randomUUID(),
      type: 'sync',
      mode: 'full',
      trigger: 'test',
      status: 'succeeded',
      startedAt: hours(3.1),
      listingStartedAt: hours(3.1),
      finishedAt: hours(3),
      listingComplete: true,
    });
    const stale = await runCheck();
    expect(stale.status).toBe('critical');
    expect(stale.message).toMatch(/no successful sync for 3\.0 h \(limit 2 h\)/);
    await ds.getRepository(RunEntity).insert({
      id: randomUUID(),
      type: 'sync',
      mode: 'incremental',
      trigger: 'test',
      status: 'succeeded',
      startedAt: hours(0.2),
      listingStartedAt: hours(0.2),
      finishedAt: hours(0.1),
      listingComplete: true,
    });
    expect((await runCheck()).status).toBe('ok');
  });

  it('a job scheduler lost from Redis is recreated by the worker, with one WARNING, resolved once they are all in place', async () => {
    await worker.ctx.queues.monitor.removeJobScheduler('schedule:freshness');
    await worker.upkeep.schedulers.kick();
    expect((await worker.ctx.queues.monitor.getJobSchedulers()).map((s) => s.key)).toContain('schedule:freshness');
    const lost = () => stack.sim.gchat.messages().filter((m) => /Scheduled work was lost/.test(m.fallbackText ?? ''));
    const [warning] = await waitFor(() => (lost().length ? lost() : undefined), {
      timeoutMs: 20_000,
      what: 'the WARNING',
    });
    expect(warning!.fallbackText).toMatch(/^⚠️ WARNING: Scheduled work was lost/);
    expect(JSON.stringify(warning!.body)).toContain('schedule:freshness');
    // Rounds with nothing missing: one resolved message in the same thread, nothing more.
    await worker.upkeep.schedulers.kick();
    await worker.upkeep.schedulers.kick();
    const thread = () => stack.sim.gchat.messages().filter((m) => m.thread === warning!.thread);
    await waitFor(() => thread().length >= 2 || undefined, { timeoutMs: 20_000, what: 'the resolved message' });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(thread().map((m) => (/^✅ RESOLVED/.test(m.fallbackText!) ? 'resolved' : 'firing'))).toEqual([
      'firing',
      'resolved',
    ]);
  });

  it('manage monitor runs every check now, prints the emoji report and exits 1 when unhealthy', async () => {
    // Work waits in the sync queue, which no worker here serves.
    await enqueue(worker.ctx.queues, syncRunJob, { mode: 'incremental', trigger: 'test' });
    const json = await runCli(['monitor', '--json'], stack.env, 120_000);
    const doc = JSON.parse(json.stdout) as {
      healthy: boolean;
      checks: { check: string; status: string; message: string }[];
    };
    expect(doc.checks.map((c) => c.check).sort()).toEqual([
      'chatwoot-api',
      'consistency',
      'freshness',
      'pipedrive-api',
      'queues',
      'sync-status',
    ]);
    // no worker serves the sync queue here while its scheduler waits: the queues check says so
    expect(doc.checks.find((c) => c.check === 'queues')).toMatchObject({ status: 'critical' });
    expect(doc.healthy).toBe(false);
    expect(json.code).toBe(1);
    const human = await runCli(['monitor'], stack.env, 120_000);
    expect(human.stdout).toMatch(/✅ Pipedrive API: Pipedrive API reachable/);
    expect(human.stdout).toMatch(/🚨 Queues and workers: no worker online for queue sync/);
    expect(human.stdout).toMatch(/Overall: unhealthy/);
  });
});
