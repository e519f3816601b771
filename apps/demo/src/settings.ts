import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { REPO_ROOT } from '@pcs/config';
import { SIM_DEFAULTS, type Simulator } from '@pcs/simulator';

export interface DemoSettingsInput {
  /** The operator's environment and .env: only Redis, the database and LOG_LEVEL are taken from it. */
  infra: Record<string, string | undefined>;
  sim: Pick<Simulator, 'pipedriveBaseUrl' | 'chatwootBaseUrl' | 'gchatWebhookUrl'>;
  dashboardPort: number;
  database: string;
  prefix: string;
}

/**
 * Every setting of the demo's worker, dashboard and CLI: the operator's Redis and database server
 * (its own database and queue prefix, so nothing of a real setup is touched), and the simulator.
 * `infra/demo.env` (the compose demo) holds the same values with the simulator at http://simulator:4010.
 */
export function demoSettings({ infra, sim, dashboardPort, database, prefix }: DemoSettingsInput) {
  const logDir = join(REPO_ROOT, 'logs', 'demo');
  const db: Record<string, string> = {};
  if (infra.DATABASE_URL) {
    const u = new URL(infra.DATABASE_URL);
    u.pathname = `/${database}`;
    db.DATABASE_URL = u.toString();
  } else {
    db.MYSQL_HOST = infra.MYSQL_HOST || '127.0.0.1';
    db.MYSQL_PORT = infra.MYSQL_PORT || '3306';
    db.MYSQL_USER = infra.MYSQL_USER || 'root';
    db.MYSQL_PASSWORD = infra.MYSQL_PASSWORD ?? '';
    db.MYSQL_DATABASE = database;
  }
  // TLS to the operator's database server applies to the demo's database too.
  if (infra.MYSQL_SSL) db.MYSQL_SSL = infra.MYSQL_SSL;
  if (infra.MYSQL_SSL_CA) db.MYSQL_SSL_CA = resolve(infra.MYSQL_SSL_CA);
  // Redis beyond one server (README "Scaling out"): the operator's Sentinels, Cluster or TLS CA carry over.
  const redis: Record<string, string> = {};
  for (const k of ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_CLUSTER_NODES'] as const)
    if (infra[k]) redis[k] = infra[k];
  if (infra.REDIS_TLS_CA) redis.REDIS_TLS_CA = resolve(infra.REDIS_TLS_CA);
  return {
    REDIS_URL: infra.REDIS_URL || 'redis://127.0.0.1:6379',
    ...redis,
    QUEUE_PREFIX: prefix,
    ...db,
    PIPEDRIVE_BASE_URL: sim.pipedriveBaseUrl,
    PIPEDRIVE_API_KEY: SIM_DEFAULTS.pipedriveToken,
    PIPEDRIVE_PHONE_FIELD: 'Main phone',
    PIPEDRIVE_SUPPORT_LINK_FIELD: 'Support portal',
    CHATWOOT_BASE_URL: sim.chatwootBaseUrl,
    CHATWOOT_API_KEY: SIM_DEFAULTS.chatwootAdminToken,
    CHATWOOT_ACCOUNT_ID: String(SIM_DEFAULTS.chatwootAccountId),
    SUPPORT_GOOGLE_CHAT: sim.gchatWebhookUrl(),
    DEFAULT_COUNTRY_CODE: 'AU',
    SYNC_INTERVAL_MINUTES: '5',
    MONITOR_INTERVAL_MINUTES: '5',
    // Cleanup at night: the demo runs one itself once the first sync has made the contacts.
    CLEANUP_CRON: '0 3 * * *',
    DASHBOARD_PORT: String(dashboardPort),
    // Demo credentials: reachable from this machine only.
    DASHBOARD_HOST: '127.0.0.1',
    DASHBOARD_USER: 'demo',
    DASHBOARD_PASSWORD: 'demo',
    PIPEDRIVE_WEBHOOK_USER: 'pipedrive',
    PIPEDRIVE_WEBHOOK_PASSWORD: 'demo',
    LOG_DIR: logDir,
    LOG_LEVEL: infra.LOG_LEVEL || 'info',
    WORKER_HEALTH_FILE: join(logDir, `worker-${prefix}.alive`),
  };
}

/** Writes the settings as a .env file readable only by its owner (it may hold the database password); returns its absolute path. */
export function writeEnvFile(path: string, settings: Record<string, string>): string {
  const file = isAbsolute(path) ? path : resolve(REPO_ROOT, path);
  mkdirSync(dirname(file), { recursive: true });
  const quote = (v: string) => (/[\s#"'\\$`]/.test(v) ? `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : v);
  const lines = Object.entries(settings).map(([k, v]) => `${k}=${quote(v)}`);
  writeFileSync(
    file,
    `# Written by \`pnpm run demo\`: the demo's settings. Use with ENV_FILE=${path} pnpm manage <command>.\n${lines.join('\n')}\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  return file;
}

/** A port nobody listens on: `port` itself when it is free (rejects with EADDRINUSE otherwise), or any with 0. */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, port === 0 ? '127.0.0.1' : undefined, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}
