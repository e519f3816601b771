import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseDotenv } from 'dotenv';
import { REPO_ROOT } from '@pcs/config';
import { createSimulator } from '@pcs/simulator';
import { MYSQL, tempDir, waitFor } from '../../../test/support/index.js';
import { runCli } from '../../../test/support/processes.js';
import { startDemo as startDemoProcess } from '../../../test/support/demo.js';
import { demoSettings } from '../src/settings.js';
import { resetDemoState } from '../src/reset.js';

/** `pnpm run demo` as a newcomer runs it: a real pnpm, real processes, real HTTP. */
describe('pnpm run demo', () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const database = `t_demo_${suffix}`;
  const prefix = `t-demo-${suffix}`;
  const envOut = join(tempDir('demo'), 'env.demo');
  afterAll(async () => {
    if (!existsSync(envOut)) return; // the demo test did not run (-t)
    const s = parseDotenv(readFileSync(envOut));
    await resetDemoState({ ...s, REDIS_URL: s.REDIS_URL!, QUEUE_PREFIX: prefix }).catch(() => undefined);
  });

  it('seeds the simulators, syncs, alerts, serves its URLs, and stops everything on SIGTERM', async () => {
    const demo = spawn(
      'pnpm',
      [
        'run',
        'demo',
        '--port',
        '0',
        '--simulator-port',
        '0',
        '--database',
        database,
        '--prefix',
        prefix,
        '--env-out',
        envOut,
        '--no-activity',
      ],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH!,
          HOME: process.env.HOME ?? '/tmp',
          MYSQL_HOST: MYSQL.host,
          MYSQL_PORT: String(MYSQL.port),
          MYSQL_USER: MYSQL.user,
          MYSQL_PASSWORD: MYSQL.password,
          CI: 'true',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => demo.on('exit', () => r()));
    try {
      await waitFor(() => out.includes('Ctrl-C stops everything') || undefined, {
        timeoutMs: 120_000,
        intervalMs: 200,
        what: `the demo to be ready; output: ${out}`,
      });
      expect(out).toMatch(
        /first sync succeeded: (\d+) customer organizations → \d+ contacts created, 1 adopted from the original deployment, 0 failed/,
      );
      expect(out).toMatch(/cleanup succeeded: 1 contact of a former customer marked/);
      expect(out).toContain('test alert delivered');
      // The printout leads on: one organization's story, a targeted sync, Prometheus and Grafana.
      expect(out).toMatch(/pnpm manage org \d+/);
      expect(out).toContain('pnpm manage sync --org');
      expect(out).toContain('pnpm manage sync --full --dry-run');
      expect(out).toContain('docker compose --profile observability up -d');
      const url = (label: string) => new RegExp(`${label}\\s+(http://\\S+)`).exec(out)?.[1];
      const board = url('Bull Board \\(queues and jobs\\)')!;
      const contactsPage = url('Chatwoot contacts \\(simulated\\)')!;
      const chatPage = url('Google Chat space \\(simulated\\)')!;
      expect(board).toMatch(/\/admin\/queues$/);

      const auth = { authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}` };
      expect((await fetch(board)).status).toBe(401);
      const boardRes = await fetch(board, { headers: auth });
      expect(boardRes.status).toBe(200);
      expect(await boardRes.text()).toMatch(/<html/i);

      // Contacts arrived in the simulated Chatwoot, one per customer, the former customer marked.
      const customers = Number(/first sync succeeded: (\d+)/.exec(out)![1]);
      const page = await (await fetch(contactsPage)).text();
      expect(page).toContain(`pipedrive:org:`);
      expect(page).toContain(`<span data-count="customer">${customers}</span>`);
      expect(page).toContain('<span data-count="former">1</span>');
      const chat = await (await fetch(chatPage)).text();
      expect(chat).toContain('Test notification');

      // The operator CLI works against the demo through the settings file it wrote.
      const status = await runCli(['status', '--json'], { ENV_FILE: envOut });
      expect(status.code).toBe(0);
      const doc = JSON.parse(status.stdout);
      expect(doc.prefix).toBe(prefix);
      expect(doc.workers.total).toBe(1);
      expect(doc.lastRuns.sync.status).toBe('succeeded');
      expect(doc.lastRuns.sync.processed).toBe(customers);
    } finally {
      demo.kill('SIGTERM');
      await exited;
    }
    // Everything it started is gone: the dashboard port is closed, no worker serves the prefix.
    const board = /Bull Board \(queues and jobs\)\s+(http:\/\/\S+)/.exec(out)![1]!;
    await waitFor(
      async () =>
        (await fetch(board).then(
          () => false,
          () => true,
        )) || undefined,
      { timeoutMs: 40_000, what: 'the dashboard to stop' },
    );
    const after = await waitFor(
      async () => {
        const s = await runCli(['status', '--json'], { ENV_FILE: envOut });
        return JSON.parse(s.stdout).workers.total === 0 ? s : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 1_000, what: 'the worker to stop' },
    );
    expect(after.code).toBe(0);
    expect(out).toContain('stopping the demo');
  }, 240_000);

  /** The demo started straight with node, in its own process group (as a shell job is). */
  const startDemo = (tag: string) =>
    startDemoProcess({ database: `${database}_${tag}`, prefix: `${prefix}-${tag}`, envOut: `${envOut}.${tag}` });
  const gone = (url: string) =>
    waitFor(
      async () =>
        (await fetch(url).then(
          () => false,
          () => true,
        )) || undefined,
      { timeoutMs: 40_000, what: `${url} to stop answering` },
    );

  it('Ctrl-C in a terminal (SIGINT to the whole group) stops everything gracefully, without forcing the worker', async () => {
    const demo = startDemo('int');
    try {
      const board = await demo.ready();
      process.kill(-demo.child.pid!, 'SIGINT');
      expect(await demo.exited).toBe(0);
      await gone(board);
      expect(demo.output()).not.toMatch(/exiting now/);
    } finally {
      await demo.cleanup();
    }
  }, 180_000);

  it('a demo killed outright (SIGKILL) leaves no worker or dashboard behind', async () => {
    const demo = startDemo('kill');
    try {
      const board = await demo.ready();
      demo.child.kill('SIGKILL');
      await demo.exited;
      await gone(board);
      const status = await runCli(['status', '--json'], { ENV_FILE: `${envOut}.kill` });
      expect(JSON.parse(status.stdout).workers.total).toBe(0);
    } finally {
      await demo.cleanup();
    }
  }, 180_000);

  it('writes the same settings as the compose demo (infra/demo.env), at its own addresses', () => {
    const compose = parseDotenv(readFileSync(join(REPO_ROOT, 'infra/demo.env')));
    const sim = createSimulator();
    const ours = demoSettings({
      infra: {},
      sim: {
        pipedriveBaseUrl: 'http://simulator:4010/pipedrive',
        chatwootBaseUrl: 'http://simulator:4010/chatwoot',
        gchatWebhookUrl: () => `http://simulator:4010${sim.gchatWebhookUrl()}`,
      },
      dashboardPort: 3000,
      database: 'pipedrive_chatwoot_sync_demo',
      prefix: 'pcs-demo',
    }) as Record<string, string>;
    for (const [key, value] of Object.entries(compose)) {
      if (key === 'COMPOSE_PROFILES' || key === 'COMPOSE_PROJECT_NAME') continue;
      expect(ours[key], key).toBe(value);
    }
  });

  it('refuses bad options with exit 2, naming each', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'apps/demo/src/main.ts'), '--port', 'x', '--database', 'production'],
        { cwd: REPO_ROOT, env: { PATH: process.env.PATH! } },
      );
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => resolve({ code, err }));
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--port: expected a whole number/);
    expect(r.err).toMatch(/--database: .*containing "demo"/);
  });

  const runDemo = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/demo/src/main.ts'), ...args], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, ENV_FILE: 'none', MYSQL_HOST: MYSQL.host, MYSQL_PORT: String(MYSQL.port) },
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) => resolve({ code, out }));
    });

  it('a demo that cannot start leaves no settings file and stops only what it started', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    const file = join(tempDir('demo-fail'), 'env.demo');
    try {
      const r = await runDemo([
        '--port',
        String(port),
        '--simulator-port',
        '0',
        '--env-out',
        file,
        '--prefix',
        `${prefix}-f`,
      ]);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/cannot listen on port/);
      expect(r.out).toMatch(/stopping the demo\n/);
      expect(r.out).not.toMatch(/worker and dashboard first/);
      expect(existsSync(file)).toBe(false);
    } finally {
      taken.close();
    }
  });

  it('`pnpm run demo -- --clean` removes the database, the Redis keys and the settings file a demo left', async () => {
    const { Redis } = await import('ioredis');
    const mysql = await import('mysql2/promise');
    const db = `t_demo_clean_${suffix}`;
    const pfx = `t-demo-clean-${suffix}`;
    const file = join(tempDir('demo-clean'), 'env.demo');
    writeFileSync(file, 'QUEUE_PREFIX=x\n');
    const conn = await mysql.createConnection({
      host: MYSQL.host,
      port: MYSQL.port,
      user: MYSQL.user,
      password: MYSQL.password,
    });
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      await conn.query(`CREATE DATABASE \`${db}\``);
      await redis.set(`${pfx}:sync:meta`, '1');
      // pnpm 12 passes the `--` of `pnpm run demo -- --clean` (README) on to the script
      const r = await runDemo(['--', '--clean', '--database', db, '--prefix', pfx, '--env-out', file]);
      expect(r.code, r.out).toBe(0);
      const [rows] = await conn.query('SHOW DATABASES LIKE ?', [db]);
      expect(rows).toEqual([]);
      expect(await redis.exists(`${pfx}:sync:meta`)).toBe(0);
      expect(existsSync(file)).toBe(false);
    } finally {
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await redis.del(`${pfx}:sync:meta`);
      redis.disconnect();
      await conn.end();
    }
  });
});
