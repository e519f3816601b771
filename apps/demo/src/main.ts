import { existsSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, parseRedisConfig, readEnv } from '@pcs/config';
import { describeRedis } from '@pcs/queues';
import { AppError, isUnreachable } from '@pcs/errors';
import { createSimulator, SIM_DEFAULTS, PD_FIELD_KEYS, seedDemoAccount } from '@pcs/simulator';
import { demoSettings, freePort, writeEnvFile } from './settings.js';
import { resetDemoState } from './reset.js';
import { checkRedis, runCli, startApp, waitUntil, type App } from './processes.js';

/**
 * `pnpm run demo`: the whole flow on this machine without any account. A seeded fake Pipedrive,
 * Chatwoot and Google Chat (the simulator, in this process), migrations, a worker and a dashboard
 * (child processes started exactly like `pnpm run worker` / `pnpm run dashboard`), a first full
 * sync, a cleanup and a test alert; then the URLs, and an organization edited every 30 s in the fake
 * Pipedrive with its webhook sent to the dashboard, until Ctrl-C.
 */

const HELP = `Usage: pnpm run demo [options]

  --port N             dashboard port (default 3000; 0 picks a free one)
  --simulator-port N   simulator port (default 4010; 0 picks a free one)
  --orgs N             organizations in the fake Pipedrive (default 60)
  --database NAME      MySQL/MariaDB database of the demo (default pipedrive_chatwoot_sync_demo)
  --prefix NAME        queue prefix in Redis (default pcs-demo)
  --env-out FILE       where the demo writes its settings (default .env.demo), for
                       \`ENV_FILE=.env.demo pnpm manage status\` and friends
  --no-activity        do not edit organizations every 30 s
  --clean              remove what a demo left (its database, its Redis keys, the --env-out
                       file) and exit; the logs stay in logs/demo
  -h, --help

Redis and MySQL/MariaDB come from REDIS_URL and DATABASE_URL / MYSQL_* (environment or .env;
defaults redis://127.0.0.1:6379 and root@127.0.0.1:3306).`;

let parsed;
try {
  parsed = parseArgs({
    // `pnpm run <app> -- --flag`: pnpm 12 passes the `--` on; it is not the end of the options here
    args: process.argv.slice(2).filter((a, i) => i > 0 || a !== '--'),
    options: {
      port: { type: 'string', default: '3000' },
      'simulator-port': { type: 'string', default: String(SIM_DEFAULTS.port) },
      orgs: { type: 'string', default: '60' },
      database: { type: 'string', default: 'pipedrive_chatwoot_sync_demo' },
      prefix: { type: 'string', default: 'pcs-demo' },
      'env-out': { type: 'string', default: '.env.demo' },
      'no-activity': { type: 'boolean', default: false },
      clean: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (parsed.help) {
  console.log(HELP);
  process.exit(0);
}

const bad: string[] = [];
const int = (name: keyof typeof parsed, max: number): number => {
  const n = Number(parsed[name]);
  if (!Number.isInteger(n) || n < 0 || n > max)
    bad.push(`--${name}: expected a whole number from 0 to ${max}, got ${String(parsed[name])}`);
  return n;
};
const dashboardPortWanted = int('port', 65_535);
const simulatorPortWanted = int('simulator-port', 65_535);
const orgs = int('orgs', 5_000);
// The demo empties both at every start, so they must be recognisably the demo's own.
if (!/^[A-Za-z0-9_$]{1,64}$/.test(parsed.database) || !parsed.database.includes('demo'))
  bad.push('--database: expected letters, digits, _ or $, containing "demo" (the demo resets it)');
if (!/^[A-Za-z0-9_.-]{1,40}$/.test(parsed.prefix) || !parsed.prefix.includes('demo'))
  bad.push('--prefix: expected 1-40 letters, digits, _ . or -, containing "demo" (the demo resets it)');
if (bad.length) {
  console.error(bad.join('\n'));
  process.exit(2);
}

if (parsed.clean) {
  // What a demo leaves behind, without Docker: its database, its queue prefix, its settings file.
  const infra = readEnv();
  const settings = demoSettings({
    infra,
    sim: createSimulator({ port: 0, host: '127.0.0.1' }),
    dashboardPort: 0,
    database: parsed.database,
    prefix: parsed.prefix,
  });
  try {
    await resetDemoState(settings);
    rmSync(parsed['env-out'], { force: true });
    console.log(
      `removed the demo's database ${parsed.database}, its Redis keys ${parsed.prefix}:* and ${parsed['env-out']}`,
    );
    process.exit(0);
  } catch (err) {
    console.error(`demo --clean failed: ${(err as Error).message}`);
    process.exit(isUnreachable(err) ? 3 : 1);
  }
}

const say = (line: string) => console.log(line);
const step = (line: string) => console.log(`• ${line}`);
const started = Date.now();
const apps: App[] = [];
const sim = createSimulator({ port: simulatorPortWanted, host: '127.0.0.1' });
let activity: NodeJS.Timeout | undefined;
let stopping = false;
let ready = false;
let envFile: string | undefined;

async function shutdown(code: number, why?: string): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (why) console.error(why);
    clearInterval(activity);
    // A demo that failed before it was ready leaves no settings file pointing at it.
    if (code !== 0 && !ready && envFile) rmSync(envFile, { force: true });
    say(
      apps.length
        ? `stopping the demo: ${apps.map((a) => a.name).join(' and ')} first (they finish their jobs), then the simulator`
        : 'stopping the demo',
    );
    await Promise.all(apps.map((a) => a.stop()));
    await sim.stop();
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(0));

try {
  const infra = readEnv();
  // Config errors in REDIS_* (a bad Sentinel list, an unreadable REDIS_TLS_CA) are named, like every process does.
  const redisTarget = parseRedisConfig(infra);
  await checkRedis(redisTarget).catch((err: Error) => {
    throw new AppError({
      kind: 'redis',
      source: 'redis',
      message: `${describeRedis(redisTarget)} is not reachable: ${err.message}\nStart it (e.g. \`redis-server --daemonize yes\`) or set REDIS_URL (README "Scaling out" for Sentinel, Cluster and TLS).`,
    });
  });

  const { url: simUrl } = await sim.start().catch((err: NodeJS.ErrnoException) => {
    throw new Error(
      `the simulator cannot listen on port ${simulatorPortWanted}: ${err.code ?? err.message} (choose another with --simulator-port, or 0)`,
    );
  });
  const account = seedDemoAccount(sim, { orgs });
  step(
    `fake Pipedrive seeded: ${account.orgs} organizations (${account.customers} customers), ${account.persons} people; 2 contacts of the original deployment in the fake Chatwoot`,
  );

  const dashboardPort = await freePort(dashboardPortWanted).catch((err: NodeJS.ErrnoException) => {
    throw new Error(
      `the dashboard cannot listen on port ${dashboardPortWanted}: ${err.code ?? err.message} (choose another with --port, or 0)`,
    );
  });
  const settings = demoSettings({ infra, sim, dashboardPort, database: parsed.database, prefix: parsed.prefix });
  envFile = writeEnvFile(parsed['env-out'], settings);
  const env = { ENV_FILE: envFile };

  await resetDemoState(settings).catch((err: Error) => {
    throw new AppError({
      kind: 'database',
      source: 'database',
      message: `the database server is not reachable or refused the demo database: ${err.message}\nStart MySQL/MariaDB, or set DATABASE_URL or MYSQL_HOST/MYSQL_USER/MYSQL_PASSWORD.`,
    });
  });
  const migrate = await runCli(['migrate'], env);
  if (migrate.code !== 0)
    throw new Error(`migrations failed (exit ${migrate.code}):\n${migrate.stderr || migrate.stdout}`);
  step(`database ${parsed.database}: ${migrate.stdout.trim() || 'up to date'}`);

  // Queued before the worker starts, so this full sync is the first run (the worker's own
  // scheduled sync then finds it running, or finds nothing left to do) and its summary tells it all.
  const syncing = runCli(['sync', '--full', '--wait', '--json'], env, 300_000);
  rmSync(settings.WORKER_HEALTH_FILE, { force: true }); // left by a demo that was killed
  apps.push(
    startApp(
      'worker',
      env,
      (code) => void shutdown(1, `the worker exited unexpectedly (code ${code}); its logs: ${settings.LOG_DIR}/worker`),
    ),
  );
  apps.push(
    startApp(
      'dashboard',
      env,
      (code) =>
        void shutdown(1, `the dashboard exited unexpectedly (code ${code}); is port ${dashboardPort} free? (--port)`),
    ),
  );
  const board = `http://127.0.0.1:${dashboardPort}`;
  await waitUntil(
    'the dashboard to answer /readyz',
    60_000,
    async () => (await fetch(`${board}/readyz`).catch(() => undefined))?.ok === true,
  );
  await waitUntil('the worker to serve its queues', 60_000, async () => existsSync(settings.WORKER_HEALTH_FILE));
  step('worker and dashboard running');

  const sync = await syncing;
  const run = JSON.parse(sync.stdout || '{}') as Record<string, unknown>;
  if (sync.code !== 0 && run.status !== 'partial')
    throw new Error(`the first sync failed (exit ${sync.code}): ${sync.stderr.trim()}`);
  step(
    `first sync ${String(run.status)}: ${String(run.processed)} customer organizations → ${String(run.created)} contacts created, ${String(run.adopted)} adopted from the original deployment, ${String(run.failed)} failed`,
  );

  const cleanup = await runCli(['cleanup', '--wait', '--json'], env, 120_000);
  const cl = JSON.parse(cleanup.stdout || '{}') as Record<string, unknown>;
  step(`cleanup ${String(cl.status)}: ${String(cl.marked ?? 0)} contact of a former customer marked "Former customer"`);

  // The checks ran once when the worker started, before any sync: run them again on the synced state.
  const monitor = await runCli(['monitor', '--json'], env, 120_000);
  const report = JSON.parse(monitor.stdout || '{"checks":[]}') as {
    healthy?: boolean;
    checks: { check: string; status: string }[];
  };
  const notOk = report.checks.filter((c) => c.status !== 'ok');
  step(
    `health checks: ${report.checks.length - notOk.length} of ${report.checks.length} ok${notOk.length ? ` (${notOk.map((c) => `${c.check} ${c.status}`).join(', ')})` : ''}`,
  );

  const alert = await runCli(['test-alerts', '--wait'], env, 60_000);
  step(
    alert.code === 0
      ? 'test alert delivered to the fake Google Chat space'
      : `test alert not delivered (exit ${alert.code}): ${alert.stderr.trim()}`,
  );

  say(`
Ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Open:
  Bull Board (queues and jobs)     ${board}/admin/queues   user ${settings.DASHBOARD_USER}, password ${settings.DASHBOARD_PASSWORD} (demo only;
                                   enter them at the browser's prompt: a URL with user:password@ keeps Bull Board on "Loading")
  Chatwoot contacts (simulated)    ${simUrl}/chatwoot/
  Google Chat space (simulated)    ${simUrl}/gchat/
  Status API, metrics              ${board}/api/status   ${board}/metrics

Try the operator CLI against the demo:
  ENV_FILE=${parsed['env-out']} pnpm manage status
  ENV_FILE=${parsed['env-out']} pnpm manage monitor
  ENV_FILE=${parsed['env-out']} pnpm manage org ${sim.pipedrive.listOrgs().find((o) => o.label_ids.includes(sim.pipedrive.config.customerLabelId))?.id ?? '<org id>'}
  ENV_FILE=${parsed['env-out']} pnpm manage logs sync -f
  ENV_FILE=${parsed['env-out']} pnpm manage sync --org <org id> --wait
  ENV_FILE=${parsed['env-out']} pnpm manage sync --full --dry-run      (the plan, nothing written)

Prometheus and Grafana over the same metrics (with Docker): docker compose --profile observability up -d
  (infra/prometheus: scrape and alert rules; infra/grafana: the dashboard; see MONITORING.md)
${parsed['no-activity'] ? '' : '\nEvery 30 s an organization changes in the fake Pipedrive and its webhook reaches the dashboard;\nwatch the contact change on the Chatwoot page.\n'}
Ctrl-C stops everything; \`pnpm run demo -- --clean\` then removes its database and Redis keys.`);
  ready = true;

  if (!parsed['no-activity']) {
    let n = 0;
    const customers = sim.pipedrive
      .listOrgs()
      .filter((o) => o.label_ids.includes(sim.pipedrive.config.customerLabelId));
    activity = setInterval(() => {
      const org = customers[n++ % customers.length];
      if (!org || stopping) return;
      const phone = `+61 2 9${String(100_0000 + Math.floor(Math.random() * 899_9999)).slice(0, 7)}`;
      sim.pipedrive.upsertOrg({ id: org.id, custom_fields: { [PD_FIELD_KEYS.mainPhone]: phone } });
      sim.pipedrive
        .sendWebhook(
          `${board}/webhooks/pipedrive`,
          { version: '2.0', action: 'change', entity: 'organization', id: org.id },
          { user: settings.PIPEDRIVE_WEBHOOK_USER, password: settings.PIPEDRIVE_WEBHOOK_PASSWORD },
        )
        .then((status) => step(`Pipedrive: "${org.name}" phone changed to ${phone}; webhook answered ${status}`))
        .catch((err: Error) => step(`Pipedrive webhook to the dashboard failed: ${err.message}`));
    }, 30_000);
  }
} catch (err) {
  await shutdown(err instanceof ConfigError ? 2 : isUnreachable(err) ? 3 : 1, `demo failed: ${(err as Error).message}`);
}
