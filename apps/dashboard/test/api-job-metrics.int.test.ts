import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../../../test/support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../../../test/support/processes.js';
import { waitFor } from '../../../test/support/index.js';

/**
 * pcs_api_requests_total and pcs_job_duration_seconds (docs/contract.md §4): counted by a real
 * worker process in Redis, shown by a real dashboard, the same after the dashboard restarts.
 */
describe('API requests and job durations on /metrics', () => {
  let stack: TestStack;
  const procs: AppProcess[] = [];

  beforeAll(async () => {
    stack = await createStack('apimetrics', {
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      MONITOR_CRON: '0 0 1 1 *',
      DASHBOARD_AUTH: 'off',
    });
    stack.sim.pipedrive.seed({ orgs: 12, customerRatio: 1 });
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await stack?.close();
  });

  const startDashboard = async () => {
    const dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    procs.push(dashboard);
    await dashboard.waitFor(/"port":(\d+),"board"/);
    const port = Number(/"port":(\d+),"board"/.exec(dashboard.output())![1]);
    return { dashboard, url: `http://127.0.0.1:${port}/metrics` };
  };
  const lines = (text: string, re: RegExp) =>
    text
      .split('\n')
      .filter((l) => re.test(l))
      .sort();
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('a sync through a real worker (with a Pipedrive 429) is counted by API, status and job; a restarted dashboard shows the same', async () => {
    const worker = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync' });
    procs.push(worker);
    await worker.waitFor('"worker ready"', 30_000);
    stack.sim.pipedrive.setFaults({ burst429: { count: 1 } });
    const cli = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 60_000);
    stack.sim.pipedrive.clearFaults();
    expect(cli.code, cli.stderr).toBe(0);
    // A stopped worker sends its last counts: nothing changes after this.
    expect(await worker.stop()).toBe(0);

    const first = await startDashboard();
    const text = await waitFor(
      async () => {
        const t = await (await fetch(first.url)).text();
        return (value(t, 'pcs_job_duration_seconds_count{queue="sync",name="sync-run"}') ?? 0) >= 1 ? t : undefined;
      },
      { timeoutMs: 20_000, what: 'the sync-run duration on /metrics' },
    );
    expect(text).toContain('# TYPE pcs_api_requests_total counter');
    expect(text).toContain('# TYPE pcs_job_duration_seconds histogram');
    expect(value(text, 'pcs_api_requests_total{api="pipedrive",status="200"}')).toBeGreaterThan(0);
    expect(value(text, 'pcs_api_requests_total{api="pipedrive",status="429"}')).toBe(1);
    const chatwoot = lines(text, /^pcs_api_requests_total\{api="chatwoot",status="2\d\d"\} /);
    expect(chatwoot.length).toBeGreaterThan(0);
    expect(chatwoot.reduce((n, l) => n + Number(l.split(' ')[1]), 0)).toBeGreaterThan(0);
    const runCount = value(text, 'pcs_job_duration_seconds_count{queue="sync",name="sync-run"}');
    expect(value(text, 'pcs_job_duration_seconds_bucket{queue="sync",name="sync-run",le="+Inf"}')).toBe(runCount);
    expect(value(text, 'pcs_job_duration_seconds_sum{queue="sync",name="sync-run"}')).toBeGreaterThan(0);
    expect(value(text, 'pcs_job_duration_seconds_count{queue="sync",name="sync-batch"}')).toBeGreaterThanOrEqual(1);
    // The old gauge by statistic is gone.
    expect(text).not.toMatch(/stat="/);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);

    const counted = /^pcs_(api_requests_total|job_duration_seconds_(bucket|sum|count))\{/;
    expect(await first.dashboard.stop()).toBe(0);
    const second = await startDashboard();
    const again = await (await fetch(second.url)).text();
    expect(lines(again, counted)).toEqual(lines(text, counted));
  }, 120_000);
});
