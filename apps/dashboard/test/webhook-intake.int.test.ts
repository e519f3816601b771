import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_WAITING_OFFERS, OFFER_TIMEOUT_MS } from '../src/intake.js';
import { startRedis, type OwnRedis } from '../../../test/support/chaos.js';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { REDIS_URL, waitFor } from '../../../test/support/index.js';

/**
 * The webhook intake's bounds (docs/contract.md §3 WEBHOOK_MAX_PENDING, §4): at the cap, an event
 * that BullMQ would merge into an organization's stored next sync is still accepted; while Redis
 * is slow to answer, every request is answered (202 or 503) within a bounded time of its arrival.
 */

const HOOK = { user: 'pipedrive', password: 'hook secret 42' };
const AUTH = `Basic ${Buffer.from(`${HOOK.user}:${HOOK.password}`).toString('base64')}`;
const QUIET = { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', MONITOR_CRON: '0 0 1 1 *' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startDashboard(env: Record<string, string>): Promise<{ app: AppProcess; url: string }> {
  const app = spawnApp('dashboard', { ...env, DASHBOARD_PORT: '0' });
  await app.waitFor(/"port":(\d+),"board"/);
  return { app, url: `http://127.0.0.1:${/"port":(\d+),"board"/.exec(app.output())![1]}/webhooks/pipedrive` };
}

const event = (id: number) =>
  JSON.stringify({ meta: { action: 'change', entity: 'organization', entity_id: String(id) }, data: {} });

interface Answer {
  id: number;
  status: number;
  error?: string;
  retryAfter: string | null;
  tookMs: number;
}

async function post(url: string, id: number): Promise<Answer> {
  const sent = Date.now();
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: event(id),
    });
    const body = (await r.json()) as { error?: string };
    return {
      id,
      status: r.status,
      error: body.error,
      retryAfter: r.headers.get('retry-after'),
      tookMs: Date.now() - sent,
    };
  } catch (err) {
    return { id, status: -1, error: String(err), retryAfter: null, tookMs: Date.now() - sent };
  }
}

describe('webhook intake at the cap, for an organization whose sync runs with its next event stored', () => {
  const CAP = 5;
  const ORG = 900_001;
  let stack: TestStack;
  let dashboard: AppProcess;
  let url = '';
  let redis: Redis;
  let sync: Queue;
  let worker: Worker;

  beforeAll(async () => {
    stack = await createStack('hookdn', {
      ...QUIET,
      DASHBOARD_AUTH: 'off',
      PIPEDRIVE_WEBHOOK_USER: HOOK.user,
      PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
      WEBHOOK_MAX_PENDING: String(CAP),
    });
    // No worker process: the test itself takes the organization's job, and holds it active.
    ({ app: dashboard, url } = await startDashboard(stack.env));
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    sync = new Queue('sync', { connection: redis, prefix: stack.prefix });
    worker = new Worker('sync', null, { connection: redis, prefix: stack.prefix, autorun: false });
  });
  afterAll(async () => {
    await dashboard?.stop();
    await worker?.close(true);
    await sync?.close();
    redis?.disconnect();
    await stack?.close();
  });

  const jobsOf = async (orgId: number, states: ('delayed' | 'prioritized' | 'active')[]) =>
    (await sync.getJobs(states)).filter((j) => (j.data as { orgId: number }).orgId === orgId);

  it('answers 202 and adds nothing: the event merges into the stored next sync, which runs after the running one', async () => {
    expect((await post(url, ORG)).status).toBe(202);
    // The job waits out its coalescing delay, then the test's worker takes it (it is now running).
    await sleep(2_300);
    const token = 'test-token';
    const job = await waitFor(async () => (await worker.getNextJob(token, { block: false })) ?? undefined, {
      timeoutMs: 5_000,
      what: "the organization's job to be taken",
    });
    expect((job.data as { orgId: number }).orgId).toBe(ORG);

    // An edit while it runs is stored by BullMQ as the organization's next job.
    expect((await post(url, ORG)).status).toBe(202);
    expect(await redis.exists(`${stack.prefix}:sync:dn:org-${ORG}`)).toBe(1);

    // Fill the intake: CAP other organizations, then one more is refused.
    for (let i = 1; i <= CAP; i++) expect((await post(url, ORG + i)).status).toBe(202);
    expect((await post(url, ORG + CAP + 1)).status).toBe(429);

    const before = (await sync.getJobs(['delayed', 'prioritized', 'waiting', 'active'])).length;
    const atCap = await post(url, ORG);
    expect(atCap.status).toBe(202);
    expect((await sync.getJobs(['delayed', 'prioritized', 'waiting', 'active'])).length).toBe(before);

    // When the running sync ends, the stored event becomes the organization's next sync.
    await job.moveToCompleted('done', token, false);
    expect(await jobsOf(ORG, ['delayed', 'prioritized'])).toHaveLength(1);
  });
});

describe('webhook intake while its Redis is slow to answer', () => {
  let own: OwnRedis;
  let stack: TestStack;
  let dashboard: AppProcess;
  let url = '';
  let ctl: Redis;

  beforeAll(async () => {
    own = await startRedis();
    stack = await createStack('hookslow', {
      ...QUIET,
      DASHBOARD_AUTH: 'off',
      PIPEDRIVE_WEBHOOK_USER: HOOK.user,
      PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
      REDIS_URL: own.url,
    });
    ({ app: dashboard, url } = await startDashboard(stack.env));
    ctl = new Redis(own.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await dashboard?.stop();
    ctl?.disconnect();
    await stack?.close();
    await own?.close();
  });

  it('answers every request, 202 or 503 with Retry-After, within a bounded time of its arrival; a flood past the waiting line gets 503 at once', async () => {
    expect((await post(url, 1)).status).toBe(202);

    // Redis stays connected but answers no command for 14 s (a slow command, a network blackhole).
    const PAUSE_MS = 14_000;
    await ctl.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const pausedAt = Date.now();
    const answers: Promise<Answer>[] = [];
    // A steady trickle: one event every 500 ms for 6 s, each of another organization...
    for (let i = 0; i < 12; i++) {
      answers.push(post(url, 1_000 + i));
      if (i === 2)
        // ... and, once some wait, a flood larger than the waiting line.
        for (let j = 0; j < MAX_WAITING_OFFERS + 50; j++) answers.push(post(url, 10_000 + j));
      await sleep(500);
    }
    const all = await Promise.all(answers);
    expect(Date.now() - pausedAt).toBeLessThan(PAUSE_MS); // all answered while Redis still said nothing

    expect(all.filter((a) => a.status !== 503)).toEqual([]);
    expect(all.filter((a) => !/^\d+$/.test(a.retryAfter ?? ''))).toEqual([]);
    // No request was held beyond its deadline (the line used to give each waiting event 5 s in turn).
    const slack = 3_000;
    expect(all.filter((a) => a.tookMs > OFFER_TIMEOUT_MS + slack).map((a) => [a.id, a.tookMs])).toEqual([]);
    const busy = all.filter((a) => /too many events are waiting/.test(a.error ?? ''));
    expect(busy.length).toBeGreaterThanOrEqual(50);
    expect(all.filter((a) => !/too many events are waiting|unreachable or too slow/.test(a.error ?? ''))).toEqual([]);

    // Redis answers again: the intake works at once, and the events it refused added nothing.
    await ctl.ping();
    const after = await post(url, 2);
    expect(after.status).toBe(202);
    const sync = new Queue('sync', { connection: ctl, prefix: stack.prefix });
    const orgIds = (await sync.getJobs(['delayed', 'prioritized', 'waiting'])).map(
      (j) => (j.data as { orgId: number }).orgId,
    );
    await sync.close();
    expect(orgIds.sort()).toEqual([1, 2]);

    const lines = dashboard.output();
    expect(lines).toMatch(/refused \(503\)/);
    expect(lines).not.toMatch(/"level":"(error|fatal)"/);
  }, 60_000);
});
