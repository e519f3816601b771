import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig, REPO_ROOT, type Config } from '@pcs/config';
import { CheckResultEntity } from '@pcs/db';
import { defineJob, handle, enqueue, schedulerId } from '@pcs/queues';
import { checkJobs } from '@pcs/jobs';
import { startWorker } from '../src/worker.js';
import {
  createTestDatabase,
  dropPrefix,
  REDIS_URL,
  tempDir,
  testEnv,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../../../test/support/index.js';

// The APIs are not the point here: a yearly sync cron keeps the sync schedule from running at start.
const API_ENV = {
  PIPEDRIVE_API_KEY: 'pd-test-token',
  CHATWOOT_BASE_URL: 'http://127.0.0.1:9/chatwoot/api/v1/accounts/2',
  CHATWOOT_API_KEY: 'cw-admin-token',
  SYNC_CRON: '0 0 1 1 *',
  CLEANUP_CRON: '0 0 1 1 *',
};

describe('worker', () => {
  let db: TestDatabase;
  let prefix: string;
  let env: Record<string, string>;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });

  beforeAll(async () => {
    db = await createTestDatabase('worker');
    prefix = uniqueName('worker');
    env = testEnv({ prefix, database: db.config.database, logDir: tempDir('worker-logs'), extra: API_ENV });
  });
  afterAll(async () => {
    await dropPrefix(prefix);
    redis.disconnect();
    await db.drop();
  });

  const config = (extra: Record<string, string> = {}): Config => parseConfig({ ...env, ...extra });

  async function schedulers(queue: string) {
    const q = new Queue(queue, { connection: redis, prefix });
    const list = await q.getJobSchedulers();
    await q.close();
    return list;
  }

  it('upserts its schedulers once, across restarts and with two workers at once', async () => {
    const [a, b] = await Promise.all([
      startWorker(config(), { console: false }),
      startWorker(config(), { console: false }),
    ]);
    await Promise.all([a.stop('test'), b.stop('test')]);
    const again = await startWorker(config(), { console: false });
    await again.stop('test');
    const list = await schedulers('monitor');
    expect(list.map((s) => s.key).sort()).toEqual(
      ['chatwoot-api', 'consistency', 'freshness', 'pipedrive-api', 'queues', 'sync-status'].map((name) =>
        schedulerId({ name }),
      ),
    );
    expect(list.every((s) => s.every === 30 * 60_000)).toBe(true);
  });

  it('replaces the schedule when the interval or cron changes', async () => {
    const w = await startWorker(config({ MONITOR_INTERVAL_MINUTES: '5' }), { console: false });
    await w.stop('test');
    let list = await schedulers('monitor');
    expect(list).toHaveLength(6);
    expect(list.every((s) => s.every === 5 * 60_000)).toBe(true);
    const w2 = await startWorker(config({ MONITOR_CRON: '*/10 * * * *', SCHEDULE_TZ: 'Australia/Sydney' }), {
      console: false,
    });
    await w2.stop('test');
    list = await schedulers('monitor');
    expect(list).toHaveLength(6);
    for (const s of list) {
      expect(s).toMatchObject({ pattern: '*/10 * * * *', tz: 'Australia/Sydney' });
      expect(s.every ?? null).toBeNull();
    }
  });

  it('runs the queues check and stores its result', async () => {
    const w = await startWorker(config(), { console: false });
    try {
      await enqueue(w.ctx.queues, checkJobs['queues'], { trigger: 'test' });
      const row = await waitFor(
        () =>
          w.ctx.ds
            .getRepository(CheckResultEntity)
            .findOne({ where: { check: 'queues' }, order: { id: 'DESC' } })
            .then((r) => r ?? undefined),
        { what: 'a queues check result' },
      );
      expect(row.status).toMatch(/ok|warning|critical/);
      expect((row.details as { queues: unknown[] }).queues).toHaveLength(4);
    } finally {
      await w.stop('test');
    }
  });

  it('rejects a job whose payload is invalid without retrying it', async () => {
    const w = await startWorker(config(), { console: false });
    try {
      const job = await w.ctx.queues.monitor.add('queues', { trigger: 'not-a-trigger' }, { attempts: 5 });
      await waitFor(async () => (await job.getState()) === 'failed', { what: 'the job to fail' });
      const failed = await w.ctx.queues.monitor.getJob(job.id!);
      expect(failed!.attemptsMade).toBe(1);
      expect(failed!.failedReason).toMatch(/invalid payload for job queues: trigger/);
    } finally {
      await w.stop('test');
    }
  });

  it('on stop, lets a job in flight complete; one past the bound returns to the queue', async () => {
    const slowJob = defineJob({
      name: 'queues',
      queue: 'monitor',
      description: 'slow test job',
      schema: z.object({ ms: z.number() }),
      attempts: 3,
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 100 },
    });
    const started: string[] = [];
    const finished: string[] = [];
    const handlers = () => [
      handle(slowJob, async (p, job) => {
        started.push(job.id!);
        await new Promise((r) => setTimeout(r, p.ms));
        finished.push(job.id!);
        return 'done';
      }),
    ];
    const cfg = config({ WORKER_QUEUES: 'monitor' });
    const w = await startWorker(cfg, { console: false, handlers });
    const job = await enqueue(w.ctx.queues, slowJob, { ms: 1500 });
    await waitFor(() => started.includes(job.id!), { what: 'the job to start' });
    const result = await w.stop('test');
    expect(result.forced).toBe(false);
    expect(finished).toContain(job.id);
    const q = new Queue('monitor', { connection: redis, prefix });
    expect(await (await q.getJob(job.id!))!.getState()).toBe('completed');

    // A job longer than the shutdown bound: the worker closes anyway, the job is not lost.
    const w2 = await startWorker(cfg, { console: false, handlers, shutdownTimeoutMs: 300 });
    const long = await enqueue(w2.ctx.queues, slowJob, { ms: 60_000 });
    await waitFor(() => started.includes(long.id!), { what: 'the long job to start' });
    const forced = await w2.stop('test');
    expect(forced.forced).toBe(true);
    const state = await (await q.getJob(long.id!))!.getState();
    expect(state).toBe('waiting');
    expect((await q.getJob(long.id!))!.attemptsMade).toBe(0);
    await q.close();
  });

  it('as a process: starts, and SIGTERM stops it with exit 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/worker/src/main.ts')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH!, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('"worker ready"'), {
      timeoutMs: 20_000,
      what: `worker ready (output: ${out.slice(-500)})`,
    });
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain('"worker stopped"');
  });

  it('as a process: a bad variable exits 2 naming it, before any work', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/worker/src/main.ts')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH!, ...env, BATCH_SIZE: 'many', PIPEDRIVE_API_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/BATCH_SIZE/);
    expect(err).toMatch(/PIPEDRIVE_API_KEY: missing/);
  });
});
