import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parse as parseDotenv } from 'dotenv';
import { REPO_ROOT, VARIABLE_NAMES } from '../packages/config/src/index.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../apps/worker/src/worker.js';
import { createTestDatabase, dropPrefix, MYSQL, REDIS_URL, tempDir, uniqueName, waitFor } from './support/index.js';
import { freePort } from '../apps/demo/src/settings.js';

/**
 * docker-compose.yml as the contract of the production stack. No Docker engine runs here, so the
 * file is validated by docker-compose itself, and each service's exact command and healthcheck run
 * as plain processes against the machine's Redis and MariaDB, configured by infra/demo.env.
 */

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | null>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  stop_grace_period?: string;
  ports?: string[];
  profiles?: string[];
  restart?: string;
  volumes?: string[];
  logging?: { driver?: string; options?: Record<string, string> };
}
const compose = parseYaml(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const demoEnv = parseDotenv(readFileSync(join(REPO_ROOT, 'infra/demo.env')));

const hasDockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

describe('docker-compose.yml', () => {
  it.skipIf(!hasDockerCompose && !process.env.CI)(
    'passes `docker-compose config`, plain and with the demo profile',
    () => {
      expect(
        hasDockerCompose,
        'docker-compose is not installed (apt-get install docker-compose); .ci/run installs it',
      ).toBe(true);
      for (const args of [
        ['config', '-q'],
        ['--env-file', 'infra/demo.env', 'config', '-q'],
        ['--profile', 'observability', 'config', '-q'],
      ]) {
        const r = spawnSync('docker-compose', args, {
          cwd: REPO_ROOT,
          encoding: 'utf8',
          env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp' },
        });
        expect(r.status, `docker-compose ${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const services = spawnSync('docker-compose', ['--env-file', 'infra/demo.env', 'config', '--services'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      })
        .stdout.trim()
        .split('\n')
        .sort();
      expect(services).toEqual([
        'dashboard',
        'grafana',
        'migrate',
        'monitor',
        'mysql',
        'prometheus',
        'redis',
        'simulator',
        'worker',
      ]);
    },
  );

  it('has the services the seed guide names, with persistence, health and ordering', () => {
    expect(Object.keys(services).sort()).toEqual([
      'dashboard',
      'grafana',
      'migrate',
      'monitor',
      'mysql',
      'prometheus',
      'redis',
      'simulator',
      'worker',
    ]);
    const redisConf = readFileSync(join(REPO_ROOT, 'infra/redis/redis.conf'), 'utf8');
    expect(redisConf).toMatch(/^appendonly yes$/m);
    expect(redisConf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(services.redis!.volumes).toContain('./infra/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro');
    expect(services.mysql!.image).toMatch(/^mysql:8\./);
    expect(services.mysql!.command).toContain('--character-set-server=utf8mb4');
    for (const name of ['redis', 'mysql', 'worker', 'monitor', 'dashboard', 'simulator'])
      expect(services[name]!.healthcheck?.test, name).toBeDefined();
    expect(services.migrate!.restart).toBe('no');
    for (const name of ['worker', 'monitor', 'dashboard']) {
      expect((services[name]!.depends_on as Record<string, { condition: string }>).migrate).toEqual({
        condition: 'service_completed_successfully',
      });
      expect(services[name]!.volumes).toContain('logs:/app/logs');
    }
    // Docker's SIGKILL must come after the worker's own bounded shutdown.
    for (const name of ['worker', 'monitor'])
      expect(Number.parseInt(services[name]!.stop_grace_period!, 10) * 1000).toBeGreaterThan(
        DEFAULT_SHUTDOWN_TIMEOUT_MS,
      );
    expect(services.worker!.ports, 'a scaled worker must bind no port').toBeUndefined();
    expect(services.worker!.environment!.WORKER_QUEUES).toBe('sync,cleanup');
    expect(services.monitor!.environment!.WORKER_QUEUES).toBe('monitor,notifications');
    expect(services.dashboard!.ports).toEqual(['${DASHBOARD_PORT:-3000}:3000']);
    expect(services.simulator!.profiles).toEqual(['demo']);
    expect(demoEnv.COMPOSE_PROFILES).toBe('demo');
    // Profile `observability`: Prometheus with infra/prometheus, scraping the dashboard by its service name.
    expect(services.prometheus!.profiles).toEqual(['observability']);
    expect(services.prometheus!.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(services.prometheus!.volumes).toContain('./infra/prometheus:/etc/prometheus:ro');
    expect(services.prometheus!.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const scrape = parseYaml(readFileSync(join(REPO_ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(scrape.scrape_configs[0]!.static_configs[0]!.targets).toEqual([
      `dashboard:${services.dashboard!.environment!.DASHBOARD_PORT}`,
    ]);
    // And Grafana with infra/grafana's provisioning and dashboard (test/grafana.test.ts checks their contents).
    expect(services.grafana!.profiles).toEqual(['observability']);
    expect(services.grafana!.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    expect(services.grafana!.volumes).toContain('./infra/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(services.grafana!.volumes!.some((v) => v.startsWith('./infra/grafana/dashboards:'))).toBe(true);
    expect(services.grafana!.ports).toEqual(['${GRAFANA_PORT:-3001}:3000']);
    expect(services.grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:-/);
    expect(services.grafana!.healthcheck?.test).toBeDefined();
  });

  it("rotates Docker's copy of every service's output (each log line also goes to stdout)", () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.logging?.driver, name).toBe('json-file');
      expect(service.logging?.options?.['max-size'], name).toMatch(/^\d+[kmg]$/);
      expect(Number(service.logging?.options?.['max-file']), name).toBeGreaterThanOrEqual(1);
    }
  });

  it('builds one image: multi-stage, production dependencies only, non-root, an init, a healthcheck the dashboard passes', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'infra/docker/Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:(2[2-9]|[3-9]\d)-/); // a current LTS
    expect(dockerfile).toMatch(/pnpm install --offline --frozen-lockfile --prod/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*CMD \["node", "infra\/docker\/healthcheck.mjs"\]$/m);
    for (const name of ['worker', 'monitor', 'dashboard', 'migrate', 'simulator'])
      expect(services[name]!.image, name).toBe('pipedrive-chatwoot-sync:${PCS_IMAGE_TAG:-latest}');
    // Secrets and local state stay out of the build context.
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.env', '**/node_modules', 'logs']) expect(ignore).toContain(entry);
  });

  it('passes every setting of the configuration schema to the app services', () => {
    const env = services.worker!.environment!;
    const missing = VARIABLE_NAMES.filter((name) => !(name in env));
    expect(missing).toEqual([]);
    // Settings come from .env; only addresses inside the stack are fixed.
    const fixed = Object.entries(env)
      .filter(([, v]) => !String(v).startsWith('${'))
      .map(([k]) => k)
      .sort();
    expect(fixed).toEqual([
      'DASHBOARD_HOST',
      'DASHBOARD_PORT',
      'DATABASE_URL',
      'LOG_DIR',
      'MYSQL_HOST',
      'MYSQL_PORT',
      'MYSQL_USER',
      'REDIS_URL',
      'WORKER_HEALTH_FILE',
      'WORKER_QUEUES',
    ]);
  });
});

/** `${VAR:-default}` / `${VAR}` as compose resolves them from an env file. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g,
    (_m, name: string, dflt?: string) => vars[name] || dflt || '',
  );
}

interface Running {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

describe('each compose service, run outside Docker with its exact command', () => {
  const running: Running[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const c of cleanups) await c();
  });

  it('migrates once, then worker, monitor, dashboard and simulator become healthy, sync, and stop within their grace period', async () => {
    const db = await createTestDatabase('compose');
    const prefix = uniqueName('compose');
    cleanups.push(
      () => db.drop(),
      () => dropPrefix(prefix),
    );
    const logDir = tempDir('compose-logs');
    const [simPort, dashPort] = [await freePort(), await freePort()];

    // What differs between a container and this machine: addresses, ports and paths. Nothing else.
    const local = (value: string, service = '') =>
      value
        .replace(/http:\/\/simulator:4010/g, `http://127.0.0.1:${simPort}`)
        .replace(/http:\/\/127\.0\.0\.1:4010/g, `http://127.0.0.1:${simPort}`)
        .replace(/http:\/\/127\.0\.0\.1:3000/g, `http://127.0.0.1:${dashPort}`)
        .replace(/^\/tmp\/worker\.alive$/, join(logDir, `${service}.alive`));
    const machine: Record<string, string> = {
      REDIS_URL,
      MYSQL_HOST: MYSQL.host,
      MYSQL_PORT: String(MYSQL.port),
      MYSQL_USER: MYSQL.user,
      MYSQL_PASSWORD: MYSQL.password,
      MYSQL_DATABASE: db.config.database,
      QUEUE_PREFIX: prefix,
      LOG_DIR: logDir,
      DASHBOARD_PORT: String(dashPort),
      // On this machine the dashboard binds loopback, which also lets the demo's short passwords through.
      DASHBOARD_HOST: '127.0.0.1',
    };
    const envOf = (name: string): Record<string, string> => {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(services[name]!.environment ?? {}))
        env[k] = local(interpolate(String(v ?? ''), demoEnv), name);
      return { ...env, ...machine, ENV_FILE: 'none' };
    };
    const argv = (cmd: string[], service: string) => {
      expect(cmd[0]).toBe('node');
      return cmd.slice(1).map((a) => local(a, service).replace(/^4010$/, String(simPort)));
    };
    const start = (name: string): Running => {
      const env = envOf(name);
      const child = spawn(process.execPath, argv(services[name]!.command!, name), {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const r = {
        name,
        child,
        output: () => out,
        exited: new Promise<number | null>((res) => child.on('exit', (code) => res(code))),
      };
      running.push(r);
      return r;
    };
    const healthy = async (name: string) => {
      const [, ...test] = services[name]!.healthcheck!.test!; // ["CMD", "node", ...]
      expect(test[0]).toBe('node');
      const env = envOf(name);
      await waitFor(
        () =>
          spawnSync(process.execPath, argv(test, name), {
            cwd: REPO_ROOT,
            env: { PATH: process.env.PATH!, ...env },
            encoding: 'utf8',
          }).status === 0 || undefined,
        {
          timeoutMs: 45_000,
          intervalMs: 500,
          what: `${name} healthcheck (${test.join(' ')}); output: ${running
            .find((r) => r.name === name)
            ?.output()
            .slice(-800)}`,
        },
      );
    };

    const sim = start('simulator');
    await healthy('simulator');

    const migrate = start('migrate');
    expect(await migrate.exited, migrate.output()).toBe(0);
    expect(migrate.output()).toMatch(/applied 7 migration/);

    // The worker's healthcheck is a real signal: it fails before the worker runs, and on a file
    // that stopped moving (a stuck worker), and passes only on a fresh one.
    const workerEnv = envOf('worker');
    const check = () =>
      spawnSync(process.execPath, argv(services.worker!.healthcheck!.test!.slice(1), 'worker'), {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
    expect(check().status).toBe(1);
    writeFileSync(workerEnv.WORKER_HEALTH_FILE!, 'stale');
    utimesSync(workerEnv.WORKER_HEALTH_FILE!, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    const stale = check();
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/last moved 1\d\d s ago \(limit 60 s\)/);
    rmSync(workerEnv.WORKER_HEALTH_FILE!);

    const apps = ['worker', 'monitor', 'dashboard'].map(start);
    for (const name of ['worker', 'monitor', 'dashboard']) await healthy(name);

    // The stack does its job: the worker's first scheduled sync fills the simulated Chatwoot.
    const contacts = await waitFor(
      async () => {
        const list = (await (await fetch(`http://127.0.0.1:${simPort}/_control/chatwoot/contacts`)).json()) as {
          identifier: string | null;
        }[];
        return list.filter((c) => c.identifier?.startsWith('pipedrive:org:')).length >= 20 ? list : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'contacts from the first scheduled sync' },
    );
    expect(contacts.length).toBeGreaterThanOrEqual(20);
    // The image's own HEALTHCHECK (no arguments) checks the dashboard at DASHBOARD_PORT.
    expect(
      spawnSync(process.execPath, ['infra/docker/healthcheck.mjs'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, DASHBOARD_PORT: String(dashPort) },
      }).status,
    ).toBe(0);
    const ready = await fetch(`http://127.0.0.1:${dashPort}/readyz`);
    expect(ready.status).toBe(200);

    // docker stop: SIGTERM, then SIGKILL after stop_grace_period. Each must exit 0 before that.
    for (const app of [...apps, sim]) {
      const grace = Number.parseInt(services[app.name]!.stop_grace_period ?? '10', 10) * 1000;
      const t0 = Date.now();
      app.child.kill('SIGTERM');
      expect(await app.exited, `${app.name}: ${app.output().slice(-500)}`).toBe(0);
      expect(Date.now() - t0).toBeLessThan(grace);
    }
    expect(existsSync(workerEnv.WORKER_HEALTH_FILE!), 'a stopped worker is not healthy').toBe(false);
  }, 240_000);
});
