import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@pcs/config';
import { openDatabase } from '@pcs/db';
import { Runs } from '@pcs/sync';
import {
  createTestDatabase,
  dropPrefix,
  tempDir,
  testEnv,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../../../test/support/index.js';

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function startDashboard(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/dashboard/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, ...env, DASHBOARD_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await waitFor(() => /"port":(\d+),"board"/.exec(out)?.[1], {
    timeoutMs: 20_000,
    what: 'the dashboard to listen',
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => out };
}

async function stop(r: Running | undefined): Promise<number | null> {
  if (!r || r.child.exitCode !== null) return r?.child.exitCode ?? null;
  const exit = new Promise<number | null>((res) => r.child.on('exit', (c) => res(c)));
  r.child.kill('SIGTERM');
  return exit;
}

const AUTH = 'Basic ' + Buffer.from('ops:correct horse').toString('base64');

describe('dashboard', () => {
  let db: TestDatabase;
  let prefix: string;
  let env: Record<string, string>;
  let dash: Running | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('dash');
    prefix = uniqueName('dash');
    const { ds } = await openDatabase(db.config);
    await ds.destroy();
    env = testEnv({
      prefix,
      database: db.config.database,
      logDir: tempDir('dash-logs'),
      extra: { DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD: 'correct horse' },
    });
    dash = await startDashboard(env);
  });
  afterAll(async () => {
    expect(await stop(dash)).toBe(0);
    await dropPrefix(prefix);
    await db.drop();
  });

  it('answers /healthz and /readyz without credentials', async () => {
    const h = await fetch(`${dash!.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${dash!.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready' });
  });

  it('guards Bull Board with Basic auth and shows the four queues with credentials', async () => {
    const anon = await fetch(`${dash!.url}/admin/queues`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await fetch(`${dash!.url}/admin/queues/api/queues`, {
      headers: { authorization: 'Basic ' + Buffer.from('ops:nope').toString('base64') },
    });
    expect(wrong.status).toBe(401);
    const page = await fetch(`${dash!.url}/admin/queues`, { headers: { authorization: AUTH } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const api = await fetch(`${dash!.url}/admin/queues/api/queues`, { headers: { authorization: AUTH } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['cleanup', 'monitor', 'notifications', 'sync']);
  });

  it('redirects / to the board, behind auth', async () => {
    expect((await fetch(`${dash!.url}/`, { redirect: 'manual' })).status).toBe(401);
    const r = await fetch(`${dash!.url}/`, { redirect: 'manual', headers: { authorization: AUTH } });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/admin/queues');
  });

  it('serves the status document behind auth', async () => {
    expect((await fetch(`${dash!.url}/api/status`)).status).toBe(401);
    const r = await fetch(`${dash!.url}/api/status`, { headers: { authorization: AUTH } });
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { prefix: string; queues: Record<string, unknown>; database: { ok: boolean } };
    expect(doc.prefix).toBe(prefix);
    expect(Object.keys(doc.queues).sort()).toEqual(['cleanup', 'monitor', 'notifications', 'sync']);
    expect(doc.database.ok).toBe(true);
  });

  it('exposes Prometheus metrics without auth', async () => {
    const r = await fetch(`${dash!.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await r.text();
    expect(text).toMatch(/pcs_queue_jobs\{queue="sync",state="waiting"\} 0/);
    expect(text).toMatch(/pcs_workers_online\{queue="sync"\} \d/);
    expect(text).toContain('# TYPE pcs_sync_runs_total counter');
    expect(text).toContain('pcs_alerts_sent_total{level="ERROR",state="firing"} 0');
    expect(text).toContain('pcs_sync_records_total{outcome="created"} 0');
    expect(text).toContain('pcs_up{part="redis"} 1');
    expect(text).toContain('pcs_up{part="database"} 1');
  });

  it('shows the same counters after a restart: they are kept in the database, not in the process', async () => {
    // Runs that ended through the runs module (as a worker ends them), read by a dashboard started afterwards.
    const { ds } = await openDatabase(db.config);
    try {
      const runs = new Runs(ds);
      for (const [orgId, action] of [
        [1, 'created'],
        [2, 'failed'],
      ] as const) {
        const t = await runs.beginTargeted({ trigger: 'webhook', details: { orgId } });
        await runs.recordOutcomes(t.id, [{ orgId, action }], { batchDone: 0 });
        await runs.finishIfDone(t.id);
      }
      const { run } = await runs.begin({ type: 'sync', mode: 'full', trigger: 'test' });
      await runs.fail(run.id, { kind: 'auth', source: 'pipedrive', message: 'bad token' });
    } finally {
      await ds.destroy();
    }
    const counters = async (url: string) =>
      (await (await fetch(`${url}/metrics`)).text())
        .split('\n')
        .filter((l) => /^pcs_(sync_runs|sync_records|cleanup_runs|alerts_sent)_total\{/.test(l))
        .sort();
    let first: Running | undefined = await startDashboard(env);
    let second: Running | undefined;
    try {
      const before = await counters(first.url);
      expect(before).toEqual(
        expect.arrayContaining([
          'pcs_sync_runs_total{mode="targeted",status="succeeded"} 1',
          'pcs_sync_runs_total{mode="targeted",status="partial"} 1',
          'pcs_sync_runs_total{mode="full",status="failed"} 1',
          'pcs_sync_records_total{outcome="created"} 1',
          'pcs_sync_records_total{outcome="failed"} 1',
        ]),
      );
      expect(await stop(first)).toBe(0);
      first = undefined;
      second = await startDashboard(env);
      expect(await counters(second.url)).toEqual(before);
    } finally {
      await stop(first);
      await stop(second);
    }
  });

  it('reports 503 on /readyz naming the database when it is unreachable, and pcs_up 0 in /metrics', async () => {
    const broken = await startDashboard({ ...env, MYSQL_PORT: '1' });
    try {
      const r = await fetch(`${broken.url}/readyz`);
      expect(r.status).toBe(503);
      // The part, never the driver's words (docs/contract.md §4).
      expect(await r.json()).toEqual({ status: 'unavailable', down: ['database'] });
      const m = await fetch(`${broken.url}/metrics`);
      expect(m.status).toBe(200);
      const text = await m.text();
      expect(text).toContain('pcs_up{part="database"} 0');
      expect(text).toContain('pcs_up{part="redis"} 1');
      expect(text).not.toMatch(/ECONNREFUSED|connect |127\.0\.0\.1:1\b/);
      expect((await fetch(`${broken.url}/healthz`)).status).toBe(200);
    } finally {
      await stop(broken);
    }
  });

  it('refuses to start without credentials unless DASHBOARD_AUTH=off', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/dashboard/src/main.ts')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH!, ...env, DASHBOARD_USER: '', DASHBOARD_PASSWORD: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => child.on('exit', r))).toBe(2);
    expect(err).toMatch(/DASHBOARD_USER: missing/);
    expect(err).toMatch(/DASHBOARD_PASSWORD: missing/);
  });
});
