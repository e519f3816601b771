import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, REPO_ROOT } from '@pcs/config';
import { startWorker } from '../../worker/src/worker.js';
import {
  createTestDatabase,
  dropPrefix,
  tempDir,
  testEnv,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../../../test/support/index.js';

function manage(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('manage CLI', () => {
  let db: TestDatabase;
  let prefix: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    prefix = uniqueName('cli');
    env = testEnv({ prefix, database: db.config.database, logDir: tempDir('cli-logs') });
  });
  afterAll(async () => {
    await dropPrefix(prefix);
    await db.drop();
  });

  it('migrate applies the schema once, then reports it up to date', () => {
    const first = manage(['migrate', '--json'], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      database: db.config.database,
      applied: [
        'Init1764200000000',
        'PipedriveMirror1764300000000',
        'RunBatches1764400000000',
        'SyncTarget1764500000000',
        'StateOwners1764600000000',
        'HistoryIndexes1764700000000',
        'MetricCounters1764800000000',
      ],
    });
    const second = manage(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('up to date');
  });

  it('status --json prints one document matching the queues', async () => {
    // A yearly sync cron: the scheduler's job waits (delayed) instead of running against nothing.
    const worker = await startWorker(
      parseConfig({
        ...env,
        SYNC_CRON: '0 0 1 1 *',
        CLEANUP_CRON: '0 0 1 1 *',
        PIPEDRIVE_API_KEY: 'x',
        CHATWOOT_BASE_URL: 'http://127.0.0.1:9/api/v1/accounts/2',
        CHATWOOT_API_KEY: 'y',
      }),
      { console: false },
    );
    try {
      await worker.ctx.queues.notifications.add('alert', { trigger: 'test' }, { delay: 60_000 });
      const res = manage(['status', '--json'], env);
      expect(res.code).toBe(0);
      const doc = JSON.parse(res.stdout);
      expect(doc.prefix).toBe(prefix);
      expect(doc.queues.notifications.delayed).toBe(1);
      expect(doc.queues.sync.delayed).toBe(1); // the sync scheduler's next run
      expect(doc.queues.cleanup.delayed).toBe(2); // the next runs of the cleanup and prune-history schedulers
      expect(doc.workers.total).toBe(1);
      expect(doc.workers.byQueue).toEqual({ sync: 1, cleanup: 1, monitor: 1, notifications: 1 });
      expect(doc.schedulers.map((s: { id: string }) => s.id).sort()).toEqual([
        'schedule:chatwoot-api',
        'schedule:cleanup-run',
        'schedule:consistency',
        'schedule:freshness',
        'schedule:pipedrive-api',
        'schedule:prune-history',
        'schedule:queues',
        'schedule:sync-run',
        'schedule:sync-status',
      ]);
      expect(doc.database.ok).toBe(true);
      const human = manage(['status'], env);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/QUEUE\s+WAITING\s+ACTIVE\s+DELAYED\s+FAILED\s+WORKERS/);
      expect(human.stdout).toMatch(/Workers online: 1/);
    } finally {
      await worker.stop('test');
    }
  });

  it('status --json counts waiting and failed jobs as BullMQ holds them, and says when no worker is online', async () => {
    const { Queue, Worker } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const connection = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });
    const sync = new Queue('sync', { connection, prefix });
    const cleanup = new Queue('cleanup', { connection, prefix });
    try {
      await sync.obliterate({ force: true });
      await cleanup.obliterate({ force: true });
      await sync.add('sync-run', { mode: 'full', trigger: 'cli', runId: 'a' });
      await sync.add('sync-run', { mode: 'full', trigger: 'cli', runId: 'b' });
      // One job that really fails, through a real worker that is gone before status runs.
      await cleanup.add('cleanup-run', { trigger: 'cli' }, { attempts: 1 });
      const failing = new Worker(
        'cleanup',
        async () => {
          throw new Error('boom');
        },
        { connection: new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null }), prefix },
      );
      await new Promise<void>((resolve) => failing.on('failed', () => resolve()));
      await failing.close();

      const res = manage(['status', '--json'], env);
      expect(res.code).toBe(0);
      const doc = JSON.parse(res.stdout);
      expect(doc.queues.sync).toMatchObject({ waiting: await sync.getWaitingCount(), active: 0, failed: 0 });
      expect(doc.queues.sync.waiting).toBe(2);
      expect(doc.queues.cleanup).toMatchObject({ waiting: 0, failed: 1 });
      expect(doc.workers.total).toBe(0);
      const human = manage(['status'], { ...env, NO_COLOR: '1' });
      expect(human.stdout).toMatch(/^sync +2 +0 +\d+ +0 +none$/m);
      expect(human.stdout).toMatch(/^cleanup +0 +0 +\d+ +1 +none$/m);
      expect(human.stdout).toMatch(/Workers online: none/);
    } finally {
      await sync.obliterate({ force: true });
      await cleanup.obliterate({ force: true });
      await sync.close();
      await cleanup.close();
      connection.disconnect();
    }
  });

  it('gives --help on every command with exit 0, and exit 2 on bad usage', () => {
    for (const args of [['--help'], ['status', '--help'], ['migrate', '--help']]) {
      const r = manage(args, env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: manage/);
    }
    const unknown = manage(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const badOpt = manage(['status', '--colour'], env);
    expect(badOpt.code).toBe(2);
  });

  it('exits 2 naming a bad variable, and 3 when Redis or the database is unreachable', () => {
    const bad = manage(['status'], { ...env, QUEUE_PREFIX: 'bad prefix!' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/QUEUE_PREFIX/);
    const noRedis = manage(['status'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(noRedis.code).toBe(3);
    expect(noRedis.stderr).toMatch(/cannot reach Redis/);
    const noDb = manage(['migrate'], { ...env, MYSQL_PORT: '1' });
    expect(noDb.code).toBe(3);
    expect(noDb.stderr).toMatch(/cannot use the database/);
    // status still shows the queue side, then exits 3 naming where the database should be.
    const statusNoDb = manage(['status', '--json'], { ...env, MYSQL_PORT: '1' });
    expect(statusNoDb.code).toBe(3);
    expect(JSON.parse(statusNoDb.stdout).database).toEqual({
      ok: false,
      error: expect.stringMatching(/cannot reach the database .* at 127\.0\.0\.1:1: .*ECONNREFUSED/),
    });
  });

  it('a database the server does not have yet is not "unreachable": exit 1 saying to run migrate', () => {
    const r = manage(['runs', '--json'], { ...env, MYSQL_DATABASE: uniqueName('cli_never_made') });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 1, message: expect.stringMatching(/does not exist yet .*run `pnpm manage migrate`/) as string },
    });
  });

  it('status exits 1, not 3, when the database answers but cannot tell (never migrated)', async () => {
    const empty = await createTestDatabase('cli-empty');
    try {
      const r = manage(['status', '--json'], { ...env, MYSQL_DATABASE: empty.config.database });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).database.ok).toBe(false);
      // A command that reads the tables says what to do, with exit 1 too.
      const runs = manage(['runs', '--json'], { ...env, MYSQL_DATABASE: empty.config.database });
      expect(runs.code).toBe(1);
      expect(JSON.parse(runs.stdout).error.message).toMatch(/tables are missing; run `pnpm manage migrate`/);
    } finally {
      await empty.drop();
    }
  });

  it('alerts lists firing alerts, silences and unsilences them', async () => {
    const { openDatabase } = await import('@pcs/db');
    const { AlertEngine, MysqlAlertStore } = await import('@pcs/monitor');
    const { ds } = await openDatabase(db.config);
    await new AlertEngine({ primary: new MysqlAlertStore(ds), channel: 'queue', repeatHours: 4 }).observe(
      'test:alert:one',
      {
        fingerprint: 'test:alert:one',
        script: 'monitor',
        level: 'ERROR',
        errorType: 'auth issue',
        message: 'Pipedrive rejected the API token',
      },
    );
    await ds.destroy();
    const list = manage(['alerts', '--json'], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).firing).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ fingerprint: 'test:alert:one', level: 'ERROR', silencedUntil: null }),
      ]),
    );
    const silenced = manage(['alerts', 'silence', 'test:alert:one', '--for', '2h', '--json'], env);
    expect(silenced.code).toBe(0);
    const until = Date.parse(JSON.parse(silenced.stdout).silencedUntil);
    expect(until - Date.now()).toBeGreaterThan(1.9 * 3_600_000);
    expect(JSON.parse(manage(['alerts', '--json'], env).stdout).silenced).toHaveLength(1);
    expect(manage(['alerts', 'unsilence', 'test:alert:one'], env).code).toBe(0);
    expect(JSON.parse(manage(['alerts', '--json'], env).stdout).silenced).toHaveLength(0);
    expect(manage(['alerts', 'silence', 'x', '--for', 'a while'], env).code).toBe(2);
    expect(manage(['alerts', 'silence', 'x'], env).code).toBe(2);
    expect(manage(['alerts', 'unsilence', 'no-such-alert'], env).code).toBe(1);
    expect(manage(['status'], env).stdout).toMatch(/test:alert:one/);
  }, 90_000);

  it('logs and monitor-logs print the rotated JSON files readably, and -f follows new lines', async () => {
    const { mkdirSync, writeFileSync, appendFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    // A LOG_DIR of its own: the worker of an earlier test wrote real (later) lines into the shared one.
    const logEnv = { ...env, LOG_DIR: tempDir('cli-logs-monitor') };
    const dir = join(logEnv.LOG_DIR, 'monitor');
    mkdirSync(dir, { recursive: true });
    const line = (i: number, level = 'info') =>
      JSON.stringify({
        level,
        time: `2026-11-27T10:00:0${i}.000Z`,
        pid: 1,
        name: 'monitor',
        msg: `check ${i}`,
        check: 'queues',
      });
    writeFileSync(join(dir, 'monitor.1.log'), [1, 2, 3].map((i) => line(i)).join('\n') + '\n');
    writeFileSync(join(dir, 'monitor.2.log'), [4, 5].map((i) => line(i, i === 5 ? 'warn' : 'info')).join('\n') + '\n');
    const human = manage(['logs', 'monitor', '-n', '3'], { ...logEnv, NO_COLOR: '1' });
    expect(human.code).toBe(0);
    const printed = human.stdout.trim().split('\n');
    expect(printed).toHaveLength(3);
    expect(printed[0]).toMatch(/2026-11-27 10:00:03Z INFO +\[monitor\] check 3 +check=queues/);
    expect(printed[2]).toMatch(/WARN +\[monitor\] check 5/);
    const json = manage(['monitor-logs', '--json', '-n', '2'], logEnv);
    expect(JSON.parse(json.stdout).map((e: { msg: string }) => e.msg)).toEqual(['check 4', 'check 5']);
    expect(manage(['logs', 'nosuch'], logEnv).code).toBe(2);
    const { spawn } = await import('node:child_process');
    const follow = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), 'logs', 'monitor', '-f', '-n', '0'],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH!, ...logEnv } },
    );
    let out = '';
    let err = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    follow.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => err.includes('following') || undefined, {
      timeoutMs: 20_000,
      what: 'logs -f to start following',
    });
    appendFileSync(join(dir, 'monitor.2.log'), line(6) + '\n');
    writeFileSync(join(dir, 'monitor.3.log'), line(7) + '\n');
    const deadline = Date.now() + 10_000;
    while (!(out.includes('check 6') && out.includes('check 7')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    follow.kill('SIGINT');
    expect(await new Promise((r) => follow.on('exit', r))).toBe(0);
    expect(out).toContain('check 6');
    expect(out).toContain('check 7');
  });

  it('--version prints the version of the tool and exits 0', () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const plain = manage(['--version'], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toBe(version);
    const json = manage(['--version', '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ version });
  });

  it('--json prints one JSON document on exit 2 (bad option, bad configuration) and 3 (Redis unreachable)', () => {
    const errorOf = (r: ReturnType<typeof manage>) =>
      (JSON.parse(r.stdout) as { error: { code: number; message: string } }).error;
    // A bad option: the usage error is the document; the human text is on stderr.
    const badOpt = manage(['status', '--colour', '--json'], env);
    expect(badOpt.code).toBe(2);
    expect(errorOf(badOpt)).toEqual({ code: 2, message: expect.stringContaining("unknown option '--colour'") });
    expect(badOpt.stderr).toMatch(/unknown option/);
    const badTimeout = manage(['sync', '--wait', '--timeout', 'soon', '--json'], env);
    expect(badTimeout.code).toBe(2);
    expect(errorOf(badTimeout).message).toMatch(/--timeout: "soon" is not a duration/);
    // A bad configuration: every offending variable is named, no secret is shown.
    const badConfig = manage(['status', '--json'], {
      ...env,
      QUEUE_PREFIX: 'bad prefix!',
      LOG_MAX_FILES: '0',
      CHATWOOT_API_KEY: 'cw-secret-token-42',
      PIPEDRIVE_API_KEY: 'pd-secret-key-42',
    });
    expect(badConfig.code).toBe(2);
    const config = errorOf(badConfig);
    expect(config.code).toBe(2);
    expect(config.message).toMatch(/QUEUE_PREFIX/);
    expect(config.message).toMatch(/LOG_MAX_FILES/);
    expect(badConfig.stdout + badConfig.stderr).not.toMatch(/secret-(token|key)-42/);
    // Redis on a closed port: exit 3, with the password masked.
    const noRedis = manage(['status', '--json'], { ...env, REDIS_URL: 'redis://:sup3rs3cret@127.0.0.1:1' });
    expect(noRedis.code).toBe(3);
    expect(errorOf(noRedis)).toEqual({
      code: 3,
      message: expect.stringMatching(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/),
    });
    expect(noRedis.stdout + noRedis.stderr).not.toContain('sup3rs3cret');
    // Exactly one document: stdout is that JSON and nothing else.
    for (const r of [badOpt, badConfig, noRedis]) expect(() => JSON.parse(r.stdout)).not.toThrow();
  });

  it('--json still prints one document when a script stops a --wait with SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), 'test-alerts', '--wait', '--json'],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // Waiting for the delivery (no worker serves notifications on this prefix) once it says it queued.
    await waitFor(() => /queued|enqueued|waiting/i.test(err), { timeoutMs: 20_000, what: 'the CLI to wait' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(JSON.parse(out)).toEqual({
      error: { code: 143, message: expect.stringMatching(/interrupted by SIGTERM/) as string },
    });
  });

  it('sync and cleanup say when no worker serves their queue, on stderr, and still print their one document', async () => {
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    for (const cmd of ['sync', 'cleanup']) {
      const r = manage([cmd, '--json'], env);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ queued: true });
      expect(r.stderr).toMatch(new RegExp(`no worker is serving the ${cmd} queue: .*the run waits until one starts`));
    }
    const connection = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });
    try {
      for (const name of ['sync', 'cleanup']) {
        const q = new Queue(name, { connection, prefix });
        await q.obliterate({ force: true });
        await q.close();
      }
    } finally {
      connection.disconnect();
    }
  });

  it('cleanup --dry-run waits for its plan without --wait (here no worker runs: it gives up at --timeout)', () => {
    const r = manage(['cleanup', '--dry-run', '--timeout', '2s', '--json'], env);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ timedOut: true });
    expect(r.stdout).not.toMatch(/"queued"/);
  });

  it('sync --wait --timeout gives up waiting, says so and exits 1, and the job stays queued', async () => {
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    expect(manage(['sync', '--timeout', '2s'], env).code).toBe(2); // --timeout goes with --wait
    const started = Date.now();
    // No worker runs on this prefix: the run cannot end.
    const r = manage(['sync', '--wait', '--timeout', '2s', '--json'], env);
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    expect(elapsed).toBeLessThan(20_000); // gave up (the wait itself has no end)
    const doc = JSON.parse(r.stdout) as { runId: string; jobId: string; timedOut: boolean; state: string };
    expect(doc).toMatchObject({ timedOut: true, state: 'waiting' });
    expect(r.stderr).toMatch(/has not ended after 2s .* it goes on/);
    const connection = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });
    const sync = new Queue('sync', { connection, prefix });
    try {
      const job = await sync.getJob(doc.jobId);
      expect(job?.data).toMatchObject({ runId: doc.runId });
      expect(await job!.getState()).toBe('waiting');
    } finally {
      await sync.obliterate({ force: true });
      await sync.close();
      connection.disconnect();
    }
    // The same for the test alert: no worker serves notifications here.
    const alert = manage(['test-alerts', '--wait', '--timeout', '1s', '--json'], env);
    expect(alert.code).toBe(1);
    expect(JSON.parse(alert.stdout)).toMatchObject({ timedOut: true, delivered: false });
  });

  it('logs merges the files of every process sharing LOG_DIR by time, and -f follows them all, new ones too', async () => {
    const { mkdirSync, writeFileSync, appendFileSync } = await import('node:fs');
    const logDir = tempDir('cli-shared-logs');
    const dir = join(logDir, 'sync');
    mkdirSync(dir, { recursive: true });
    const line = (s: number, host: string) =>
      JSON.stringify({
        level: 'info',
        time: `2026-11-27T10:00:${String(s).padStart(2, '0')}.000Z`,
        pid: 7,
        hostname: host,
        name: 'sync',
        msg: `step ${s}`,
      });
    const lines = (host: string, ...s: number[]) => s.map((i) => line(i, host)).join('\n') + '\n';
    // Two workers, each with its own series, and the shared series of an earlier version.
    writeFileSync(join(dir, 'sync.worker-aaa.1.log'), lines('aaa', 1, 4));
    writeFileSync(join(dir, 'sync.worker-aaa.2.log'), lines('aaa', 7, 9));
    writeFileSync(join(dir, 'sync.worker-bbb.1.log'), lines('bbb', 2, 5, 8));
    writeFileSync(join(dir, 'sync.3.log'), lines('old', 3, 6));
    const logEnv = { ...env, LOG_DIR: logDir, NO_COLOR: '1' };
    const json = manage(['logs', 'sync', '-n', '5', '--json'], logEnv);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).map((e: { msg: string }) => e.msg)).toEqual([
      'step 5',
      'step 6',
      'step 7',
      'step 8',
      'step 9',
    ]);
    const human = manage(['logs', 'sync', '-n', '3'], logEnv);
    expect(human.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/10:00:07Z INFO +\[sync\] step 7 +@aaa:7$/),
      expect.stringMatching(/step 8 +@bbb:7$/),
      expect.stringMatching(/step 9 +@aaa:7$/),
    ]);

    const { spawn } = await import('node:child_process');
    const follow = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), 'logs', 'sync', '-f', '-n', '0'],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH!, ...logEnv } },
    );
    let out = '';
    let err = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    follow.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor(() => err.includes('following') || undefined, { timeoutMs: 20_000, what: 'logs -f to start' });
      appendFileSync(join(dir, 'sync.worker-bbb.1.log'), lines('bbb', 10));
      appendFileSync(join(dir, 'sync.worker-aaa.2.log'), lines('aaa', 11));
      // A worker that starts now, and a roll of another.
      writeFileSync(join(dir, 'sync.worker-ccc.1.log'), lines('ccc', 12));
      writeFileSync(join(dir, 'sync.worker-aaa.3.log'), lines('aaa', 13));
      await waitFor(() => (out.match(/step 1[0-3]/g) ?? []).length >= 4 || undefined, {
        timeoutMs: 10_000,
        what: 'the four new lines',
      });
      expect(out.match(/step \d+/g)).toEqual(['step 10', 'step 11', 'step 12', 'step 13']);
    } finally {
      follow.kill('SIGINT');
      await new Promise((r) => follow.on('exit', r));
    }
  });

  it('never prints a secret, even in an error', () => {
    const r = manage(['status'], { ...env, REDIS_URL: 'redis://:sup3rs3cret@127.0.0.1:1' });
    expect(r.code).toBe(3);
    expect(r.stderr + r.stdout).not.toContain('sup3rs3cret');
  });
});
