import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { tempDir } from './support/index.js';
import { createStack, type TestStack } from './support/stack.js';
import { spawnApp, type AppProcess } from './support/processes.js';

/**
 * infra/grafana/ (docs/contract.md §4, "Monitoring assets"): the dashboard parses, every panel says
 * what it answers, every query names only metrics of the §4 table, with the type the table gives,
 * and each of them is on a real scrape of a running dashboard with that type; the provisioning
 * files point at the compose profile's Prometheus and at the folder compose mounts the dashboard in.
 */

const DIR = join(REPO_ROOT, 'infra/grafana');
const DASHBOARDS = join(DIR, 'dashboards');
const QUIET = { SYNC_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *', MONITOR_CRON: '0 0 1 1 *' };

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}

const dashboardFiles = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
const dashboards = dashboardFiles.map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard);
const panels = dashboards.flatMap((d) => d.panels);
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));

/** The §4 metrics table of docs/contract.md: name → type. */
function contractMetrics(): Map<string, string> {
  const text = readFileSync(join(REPO_ROOT, 'docs/contract.md'), 'utf8');
  const start = text.indexOf('**Metrics.**');
  const end = text.indexOf('**Monitoring assets.**');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const rows = [...text.slice(start, end).matchAll(/^\| `(pcs_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)];
  return new Map(rows.map((m) => [m[1]!, m[2]!]));
}

const SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Each series a query names, as the metric it belongs to and the part of it (a histogram's _bucket…). */
function seriesNamed(expr: string, types: Map<string, string>): { name: string; base: string; suffix: string }[] {
  return [...new Set(expr.match(/\bpcs_[a-z_]+/g) ?? [])].map((name) => {
    for (const suffix of SUFFIXES)
      if (name.endsWith(suffix) && types.get(name.slice(0, -suffix.length)) === 'histogram')
        return { name, base: name.slice(0, -suffix.length), suffix };
    return { name, base: name, suffix: '' };
  });
}

/** Series that a query reads through rate()/increase()/irate(): only counters (or a histogram's parts) make sense there. */
function rated(expr: string): string[] {
  return [...expr.matchAll(/\b(?:rate|irate|increase)\(\s*(pcs_[a-z_]+)/g)].map((m) => m[1]!);
}

describe('infra/grafana: the dashboard and its provisioning', () => {
  const contract = contractMetrics();

  it('parses, and every panel says what question it answers and queries the provisioned Prometheus', () => {
    expect(dashboardFiles).toEqual(['pipedrive-chatwoot-sync.json']);
    const datasources = parseYaml(readFileSync(join(DIR, 'provisioning/datasources/prometheus.yml'), 'utf8')) as {
      apiVersion: number;
      datasources: { uid: string; type: string; url: string; isDefault?: boolean }[];
    };
    expect(datasources.apiVersion).toBe(1);
    const [source] = datasources.datasources;
    expect(source).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });

    for (const d of dashboards) {
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(new Set(d.panels.map((p) => p.id)).size, 'panel ids are unique').toBe(d.panels.length);
    }
    expect(panels.length).toBeGreaterThanOrEqual(8);
    for (const p of panels) {
      expect(p.description, p.title).toMatch(/\?/); // the question the panel answers
      expect(['stat', 'timeseries', 'gauge', 'bargauge', 'table'], p.title).toContain(p.type);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource?.uid, p.title).toBe(source!.uid);
      for (const t of p.targets!) {
        expect(t.expr, `${p.title} ${t.refId}`).toMatch(/\bpcs_[a-z_]+/);
        expect(t.datasource?.uid, p.title).toBe(source!.uid);
      }
      expect(new Set(p.targets!.map((t) => t.refId)).size, `${p.title}: refIds`).toBe(p.targets!.length);
    }
  });

  it('every query names only metrics of docs/contract.md §4, used as their type allows, and covers what the issue asks', () => {
    expect(contract.size).toBeGreaterThanOrEqual(10);
    const bases = new Set<string>();
    for (const expr of exprs) {
      const named = seriesNamed(expr, contract);
      for (const { name, base, suffix } of named) {
        expect(contract.has(base), `${name} in "${expr}" is not a metric of docs/contract.md §4`).toBe(true);
        if (suffix) expect(contract.get(base), `${name}: only a histogram has ${suffix}`).toBe('histogram');
        bases.add(base);
      }
      for (const name of rated(expr)) {
        const { base, suffix } = named.find((n) => n.name === name)!;
        expect(contract.get(base) === 'counter' || suffix !== '', `rate/increase over the gauge ${name}`).toBe(true);
      }
    }
    // Runs and outcomes over time, last success age, API requests and 429s, queue depth, alerts
    // firing (issue 12, deliver 6).
    for (const required of [
      'pcs_sync_runs_total',
      'pcs_sync_records_total',
      'pcs_last_successful_sync_timestamp_seconds',
      'pcs_api_requests_total',
      'pcs_job_duration_seconds',
      'pcs_queue_jobs',
      'pcs_alerts_firing',
      'pcs_workers_online',
      'pcs_up',
    ])
      expect([...bases], required).toContain(required);
    expect(
      exprs.some((e) => /pcs_api_requests_total\{status="429"\}/.test(e)),
      'a query counts the 429s',
    ).toBe(true);
    // The last success panel turns red at the 2 h stale line of PcsSyncStale.
    const age = panels.find((p) =>
      p.targets?.some((t) => t.expr?.includes('time() - pcs_last_successful_sync_timestamp_seconds')),
    ) as
      | (Panel & {
          fieldConfig: { defaults: { unit: string; thresholds: { steps: { color: string; value: number | null }[] } } };
        })
      | undefined;
    expect(age, 'a panel shows the age of the last successful sync').toBeDefined();
    expect(age!.fieldConfig.defaults.unit).toBe('s');
    expect(age!.fieldConfig.defaults.thresholds.steps).toContainEqual({ color: 'red', value: 2 * 3600 });
    const rules = readFileSync(join(REPO_ROOT, 'infra/prometheus/rules.yml'), 'utf8');
    expect(rules).toContain('time() - pcs_last_successful_sync_timestamp_seconds > 2 * 3600');
  });

  it("every query is valid PromQL (promtool parses each as a recording rule; Grafana's $__rate_interval as 5m)", () => {
    const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    expect(
      version.status,
      'promtool is not installed: apt-get install -y --no-install-recommends prometheus (.ci/run installs it)',
    ).toBe(0);
    const dir = tempDir('grafana-promql');
    const file = join(dir, 'queries.yml');
    const rules = exprs.map((expr, i) => ({
      record: `pcs:grafana_query:${i}`,
      expr: expr.replaceAll('$__rate_interval', '5m'),
    }));
    writeFileSync(file, stringifyYaml({ groups: [{ name: 'grafana', rules }] }));
    const check = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout).toContain(`${exprs.length} rules found`);
  });

  it('is provisioned from the folder docker-compose.yml mounts, next to the provisioning files', () => {
    const provider = parseYaml(readFileSync(join(DIR, 'provisioning/dashboards/dashboards.yml'), 'utf8')) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers).toHaveLength(1);
    expect(provider.providers[0]!.type).toBe('file');
    const compose = parseYaml(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[]; ports?: string[]; environment?: Record<string, string> }>;
    };
    const grafana = compose.services.grafana!;
    expect(grafana.volumes).toContain('./infra/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(grafana.volumes).toContain(`./infra/grafana/dashboards:${provider.providers[0]!.options.path}:ro`);
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(home).toBe(`${provider.providers[0]!.options.path}/${dashboardFiles[0]}`);
    // The data source's address is the compose profile's Prometheus, on its container port.
    expect(compose.services.prometheus!.ports!.some((p) => p.endsWith(':9090'))).toBe(true);
  });
});

describe('every metric the dashboard queries is on a running dashboard’s /metrics', () => {
  let stack: TestStack;
  let dashboard: AppProcess | undefined;
  let scrape = '';

  beforeAll(async () => {
    stack = await createStack('grafana', { ...QUIET, DASHBOARD_AUTH: 'off' });
    await stack.ds(); // migrated
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0' });
    await dashboard.waitFor(/"port":(\d+),"board"/);
    const port = Number(/"port":(\d+),"board"/.exec(dashboard.output())![1]);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    scrape = await res.text();
  }, 60_000);
  afterAll(async () => {
    await dashboard?.stop();
    await stack?.close();
  });

  it('each with the type docs/contract.md §4 gives it (prom-client prints # TYPE for a registered metric before its first sample)', () => {
    const contract = contractMetrics();
    const types = new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const));
    expect(types.get('pcs_up')).toBe('gauge');
    expect(scrape).toMatch(/^pcs_up\{part="database"\} 1$/m);
    const bases = new Set(exprs.flatMap((e) => seriesNamed(e, contract).map((n) => n.base)));
    expect(bases.size).toBeGreaterThanOrEqual(7);
    for (const base of bases) {
      expect(types.get(base), `${base} is not on /metrics`).toBeDefined();
      expect(types.get(base), `${base} on /metrics`).toBe(contract.get(base));
    }
  });
});
