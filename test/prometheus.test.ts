import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { freePort } from '../apps/demo/src/settings.js';
import { tempDir, waitFor } from './support/index.js';
import { createStack, type TestStack } from './support/stack.js';
import { spawnApp, spawnTestWorker, type AppProcess } from './support/processes.js';

/**
 * infra/prometheus/ (docs/contract.md §4, "Monitoring assets") with Debian's `prometheus` package
 * (promtool and the server; .ci/run installs it): the shipped rules and config pass promtool, a
 * real scrape of a running dashboard passes `promtool check metrics`, and a real Prometheus running
 * the shipped rules against that dashboard raises "no worker online" once the worker stops.
 */

const DIR = join(REPO_ROOT, 'infra/prometheus');
const RULES = join(DIR, 'rules.yml');
const QUIET = { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', MONITOR_CRON: '0 0 1 1 *' };
const MISSING =
  'promtool is not installed: apt-get install -y --no-install-recommends prometheus (.ci/run installs it)';

const promtoolWorks = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

function promtool(args: string[], input?: string) {
  expect(promtoolWorks, MISSING).toBe(true);
  const r = spawnSync('promtool', args, { cwd: DIR, input, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
}
const rulesOf = (text: string) => (parseYaml(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe('infra/prometheus with promtool', () => {
  it('the rules and the scrape configuration pass promtool check, and the rules behave as rules.test.yml says', () => {
    const rules = promtool(['check', 'rules', 'rules.yml']);
    expect(rules.status, rules.output).toBe(0);
    const config = promtool(['check', 'config', 'prometheus.yml']);
    expect(config.status, config.output).toBe(0);
    expect(config.output).toMatch(/1 rule files found/);
    const unit = promtool(['test', 'rules', 'rules.test.yml']);
    expect(unit.status, unit.output).toBe(0);
    // The five conditions of the contract, each a rule.
    expect(rulesOf(readFileSync(RULES, 'utf8')).map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'PcsSyncStale',
        'PcsSyncNeverSucceeded',
        'PcsSyncFailing',
        'PcsAlertsFiring',
        'PcsNoWorkerOnline',
        'PcsQueueBacklog',
      ]),
    );
  });

  it('every pcs_ metric a rule names is one of docs/contract.md §4 or pcs_up', () => {
    const contract = readFileSync(join(REPO_ROOT, 'docs/contract.md'), 'utf8');
    const named = new Set(readFileSync(RULES, 'utf8').match(/\bpcs_[a-z_]+/g));
    expect(named.size).toBeGreaterThan(4);
    for (const name of named) expect(contract, name).toContain(`\`${name}\``);
  });
});

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

describe('a real dashboard scraped by a real Prometheus with the shipped rules', () => {
  let stack: TestStack;
  let worker: AppProcess | undefined;
  let dashboard: AppProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let promOut = '';
  let dashPort = 0;
  let promUrl = '';
  const dirs: string[] = [];

  beforeAll(async () => {
    stack = await createStack('prom', { ...QUIET, DASHBOARD_AUTH: 'off' });
    await stack.ds(); // migrated
    // As compose's `worker` service: sync and cleanup; nobody serves monitor and notifications.
    worker = spawnTestWorker({ ...stack.env, WORKER_QUEUES: 'sync,cleanup' }, {});
    await worker.waitFor('"worker ready"', 30_000);
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    await dashboard.waitFor(/"port":(\d+),"board"/);
    dashPort = Number(/"port":(\d+),"board"/.exec(dashboard.output())![1]);
  });
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await dashboard?.stop();
    await worker?.stop();
    await stack?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('promtool check metrics accepts what /metrics answers', async () => {
    const res = await fetch(`http://127.0.0.1:${dashPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^pcs_workers_online\{queue="sync"\} 1$/m);
    expect(text).toMatch(/^pcs_workers_online\{queue="monitor"\} 0$/m);
    const check = promtool(['check', 'metrics'], text);
    // Lint warnings (exit 3 in promtool ≥ 2.43) would name the metric; errors fail the parse (exit 1).
    expect(check.status, check.output).toBe(0);
  });

  it('"no worker online" stays quiet for served queues and fires for sync once its worker stops', async () => {
    expect(promtoolWorks, MISSING).toBe(true);
    const dir = tempDir('prometheus');
    dirs.push(dir);
    // The shipped rules with every `for:` shortened to 1s; expressions untouched.
    const shipped = readFileSync(RULES, 'utf8');
    const quick = shipped.replace(/^(\s+for: )\S+$/gm, '$11s');
    expect(rulesOf(quick).map((r) => r.expr)).toEqual(rulesOf(shipped).map((r) => r.expr));
    writeFileSync(join(dir, 'rules.yml'), quick);
    const config = parseYaml(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    config.scrape_configs[0]!.static_configs = [{ targets: [`127.0.0.1:${dashPort}`] }];
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d: Buffer) => (promOut += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promOut += d.toString()));
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok || undefined, {
      timeoutMs: 20_000,
      what: `Prometheus to be ready (output: ${promOut.slice(-600)})`,
    });

    const alerts = async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } };
      return body.data.alerts.filter((a) => a.labels.alertname === 'PcsNoWorkerOnline');
    };
    const firingFor = (list: PromAlert[]) =>
      list
        .filter((a) => a.state === 'firing')
        .map((a) => a.labels.queue)
        .sort();

    // While the worker serves sync and cleanup: firing for the two queues nobody serves, only.
    const before = await waitFor(
      async () => {
        const list = await alerts();
        return firingFor(list).length >= 2 ? list : undefined;
      },
      {
        timeoutMs: 20_000,
        what: `PcsNoWorkerOnline for monitor and notifications (Prometheus: ${promOut.slice(-600)})`,
      },
    );
    expect(firingFor(before)).toEqual(['monitor', 'notifications']);
    expect(before.find((a) => a.labels.queue === 'sync' || a.labels.queue === 'cleanup')).toBeUndefined();
    expect(before[0]!.labels.severity).toBe('critical');

    expect(await worker!.stop()).toBe(0);
    const after = await waitFor(
      async () => {
        const list = await alerts();
        return firingFor(list).includes('sync') ? list : undefined;
      },
      { timeoutMs: 30_000, what: 'PcsNoWorkerOnline for sync after the worker stopped' },
    );
    expect(firingFor(after)).toEqual(['cleanup', 'monitor', 'notifications', 'sync']);
  }, 60_000);
});
