import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseDotenv } from 'dotenv';
import { readFileSync } from 'node:fs';
import { AppError } from '@pcs/errors';
import type { QueueName } from '@pcs/queues/names';
import { envSchema, SECRET_VARIABLES, VARIABLE_NAMES, type RawEnv } from './schema.js';

export { envSchema, SECRET_VARIABLES, VARIABLE_NAMES, type RawEnv };

/**
 * The repository root: the nearest directory above this module with pnpm-workspace.yaml. This file
 * runs from packages/config/src, from packages/config/dist, or inlined in an app's bundle
 * (apps/<app>/dist/main.js or one of its chunks/), so a fixed number of `..` would not do.
 */
export const REPO_ROOT = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) return resolve(here, '../../..');
  }
})();

export interface DatabaseConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /**
   * Set when TLS to the database is on (MYSQL_SSL=true, or DATABASE_URL's ?ssl=true / ?ssl-mode=…):
   * the server's certificate is verified, against `ca` (MYSQL_SSL_CA's PEM) when set, otherwise
   * against Node's default CAs; see databaseTlsOptions.
   */
  ssl?: { ca?: string; caFile?: string };
}

/**
 * The TLS options (mysql2's `ssl`) every database connection uses (the TypeORM pool, the one-off
 * connections that create or drop a database), or undefined without TLS. Always verified: the
 * chain up to the CA, and the host name the certificate names; there is deliberately no "encrypt
 * but trust anything" mode (docs/contract.md §3). mysql2 cannot check a certificate's name against
 * a host given as an IP address (it has no server name to give Node, which then checks "localhost"),
 * so with an IP host only the chain is verified: use the certificate's host name for the full check.
 */
export function databaseTlsOptions(
  db: DatabaseConfig,
): { ca?: string; rejectUnauthorized: true; verifyIdentity: boolean } | undefined {
  if (!db.ssl) return undefined;
  return { ...(db.ssl.ca ? { ca: db.ssl.ca } : {}), rejectUnauthorized: true, verifyIdentity: isIP(db.host) === 0 };
}

/**
 * Where Redis is (docs/contract.md §3; README "Scaling out"). One server at `url`; or, with
 * `sentinels`, the master the Sentinels name (followed across a failover); or, with `clusterNodes`,
 * a Redis Cluster. `url`'s username, password, database and `rediss://` (TLS) apply to the data
 * connections in every topology; `tls.ca` is REDIS_TLS_CA's PEM, trusted for those connections
 * (and, with rediss://, for the Sentinels' own connections too).
 */
export interface RedisConfig {
  url: string;
  /** QUEUE_PREFIX; under a Cluster wrapped in a hash tag (`{pcs}`) so each queue's keys share one slot. */
  prefix: string;
  sentinels?: { host: string; port: number }[];
  sentinelName: string;
  sentinelPassword?: string;
  clusterNodes?: { host: string; port: number }[];
  /** Set when REDIS_URL is rediss://. */
  tls?: { ca?: string; caFile?: string };
}

export interface Config {
  pipedrive: {
    apiKey: string | undefined;
    /** Company origin without any /v1, /api/v1 or /api/v2 suffix. */
    baseUrl: string;
    customerLabel: string;
    customerFilterId: number | undefined;
    phoneField: string | undefined;
    supportLinkField: string | undefined;
  };
  chatwoot: {
    apiKey: string | undefined;
    /** Origin (plus any path prefix) without /api/v1/accounts/<id>. */
    baseUrl: string | undefined;
    accountId: number | undefined;
    inboxId: number | undefined;
  };
  defaultCountry: { callingCode?: string; region?: string } | undefined;
  schedules: {
    sync: Schedule;
    cleanup: Schedule;
    monitor: Schedule;
    tz: string;
  };
  thresholds: {
    alertErrorPercent: number;
    maxSyncAgeHours: number;
    alertRepeatHours: number;
    cleanupMaxPercent: number;
  };
  batchSize: number;
  cleanupAction: 'mark' | 'delete';
  alerts: {
    googleChatWebhook: string | undefined;
    email: { to: string[]; from: string; smtpUrl: string } | undefined;
    /** ALERT_WEBHOOK_URL: every alert POSTed as the §6 JSON (docs/contract.md §3). */
    webhookUrl: string | undefined;
    healthcheckPingUrl: string | undefined;
  };
  /** Days of run, outcome, check and delivered-alert history kept by the daily prune. */
  retentionDays: number;
  workerQueues: QueueName[];
  /** Touched while the worker serves its queues (container healthcheck). */
  workerHealthFile?: string;
  redis: RedisConfig;
  database: DatabaseConfig;
  log: { dir: string; level: RawEnv['LOG_LEVEL']; maxSize: string; maxFiles: number };
  dashboard: {
    port: number;
    /** Unset: every interface. */ host?: string;
    auth: { user: string; password: string } | undefined;
    webhookAuth: { user: string; password: string } | undefined;
    /** Above this many pending targeted syncs the webhook intake answers 429. */
    webhookMaxPending: number;
    watchdogAfterMs: number;
  };
  /** Every secret value present, for redaction by value. */
  secrets: string[];
}

export type Schedule = { every: number; pattern?: undefined } | { pattern: string; every?: undefined };

/** What a process needs beyond the schema's own checks (the worker needs the APIs, the dashboard its credentials). */
export type Requirement = 'pipedrive' | 'chatwoot' | 'database' | 'dashboardAuth';

export interface ConfigIssue {
  variable: string;
  problem: string;
}

/** Every bad variable at once (kind `config`: an operator fixes the configuration, no retry helps). */
export class ConfigError extends AppError {
  constructor(readonly issues: ConfigIssue[]) {
    super({ kind: 'config', source: 'config', message: issues.map(formatIssue).join('\n') });
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `config error: ${i.variable}: ${i.problem}`;
}

/**
 * Reads `.env` (repository root, or ENV_FILE) without overriding real environment variables.
 * Returns the merged view; process.env itself is left untouched.
 */
export function readEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const file = env.ENV_FILE
    ? isAbsolute(env.ENV_FILE)
      ? env.ENV_FILE
      : resolve(env.ENV_FILE)
    : join(REPO_ROOT, '.env');
  if (env.ENV_FILE === 'none' || !existsSync(file)) return { ...env };
  const fromFile = parseDotenv(readFileSync(file));
  return { ...fromFile, ...env };
}

const ACCOUNT_SUFFIX = /\/api\/v1\/accounts\/(\d+)\/?$/;

/** Parses and validates the environment once. Throws ConfigError listing every bad variable. */
export function parseConfig(source: Record<string, string | undefined>, requirements: Requirement[] = []): Config {
  const issues: ConfigIssue[] = [];
  let result = envSchema.safeParse(source);
  if (!result.success) {
    // Report every bad value, then carry on with them unset so that the checks below
    // (missing requirements) are reported in the same run, not one fix at a time.
    const cleaned: Record<string, string | undefined> = { ...source };
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? '(environment)');
      issues.push({ variable, problem: issue.message });
      cleaned[variable] = undefined;
    }
    result = envSchema.safeParse(cleaned);
    if (!result.success) throw new ConfigError(dedupe(issues));
  }
  const e = result.data;
  const badVariables = new Set(issues.map((i) => i.variable));

  // Pipedrive: tolerate the seed's trailing /v1 (and /api/v1, /api/v2).
  const pipedriveBaseUrl = e.PIPEDRIVE_BASE_URL.replace(/\/+$/, '')
    .replace(/\/(api\/)?v[12]$/, '')
    .replace(/\/api$/, '');

  // Chatwoot: the seed format …/api/v1/accounts/2 carries the account id.
  let chatwootBaseUrl = e.CHATWOOT_BASE_URL?.replace(/\/+$/, '');
  let accountId = e.CHATWOOT_ACCOUNT_ID;
  if (chatwootBaseUrl) {
    const m = ACCOUNT_SUFFIX.exec(chatwootBaseUrl);
    if (m) {
      const fromUrl = Number(m[1]);
      if (accountId !== undefined && accountId !== fromUrl) {
        issues.push({
          variable: 'CHATWOOT_ACCOUNT_ID',
          problem: `differs from the account id ${fromUrl} in CHATWOOT_BASE_URL (expected the same id, or leave one of them out)`,
        });
      }
      accountId = fromUrl;
      chatwootBaseUrl = chatwootBaseUrl.replace(ACCOUNT_SUFFIX, '');
    } else {
      chatwootBaseUrl = chatwootBaseUrl.replace(/\/api(\/v1)?$/, '');
    }
  }

  if (requirements.includes('pipedrive') && !e.PIPEDRIVE_API_KEY && !badVariables.has('PIPEDRIVE_API_KEY')) {
    issues.push({ variable: 'PIPEDRIVE_API_KEY', problem: 'missing (expected the Pipedrive API token)' });
  }
  if (requirements.includes('chatwoot')) {
    if (!chatwootBaseUrl && !badVariables.has('CHATWOOT_BASE_URL'))
      issues.push({
        variable: 'CHATWOOT_BASE_URL',
        problem: 'missing (expected the Chatwoot origin, e.g. https://support.example.com)',
      });
    if (!e.CHATWOOT_API_KEY)
      issues.push({ variable: 'CHATWOOT_API_KEY', problem: "missing (expected an administrator's access token)" });
    if (chatwootBaseUrl && accountId === undefined) {
      issues.push({
        variable: 'CHATWOOT_ACCOUNT_ID',
        problem: 'missing (expected the account id, or a CHATWOOT_BASE_URL ending in /api/v1/accounts/<id>)',
      });
    }
  }

  let database: DatabaseConfig;
  if (e.DATABASE_URL) {
    const u = new URL(e.DATABASE_URL);
    const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (!name)
      issues.push({
        variable: 'DATABASE_URL',
        problem: 'has no database name (expected mysql://user:password@host:port/database)',
      });
    database = {
      host: u.hostname,
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: name,
    };
  } else {
    database = {
      host: e.MYSQL_HOST,
      port: e.MYSQL_PORT ?? 3306,
      // One default for every process (worker, dashboard, CLI, demo): the local server's root.
      user: e.MYSQL_USER ?? 'root',
      password: e.MYSQL_PASSWORD ?? '',
      database: e.MYSQL_DATABASE,
    };
  }
  const ssl = databaseTls(e, issues, badVariables);
  if (ssl) database.ssl = ssl;

  let dashboardAuth: Config['dashboard']['auth'];
  if (e.DASHBOARD_AUTH === 'on') {
    if (e.DASHBOARD_USER && e.DASHBOARD_PASSWORD)
      dashboardAuth = { user: e.DASHBOARD_USER, password: e.DASHBOARD_PASSWORD };
    else if (requirements.includes('dashboardAuth')) {
      for (const v of ['DASHBOARD_USER', 'DASHBOARD_PASSWORD'] as const) {
        if (!e[v])
          issues.push({
            variable: v,
            problem: 'missing (the dashboard needs Basic auth credentials, or DASHBOARD_AUTH=off to run without them)',
          });
      }
    }
  }
  let webhookAuth: Config['dashboard']['webhookAuth'];
  if (e.PIPEDRIVE_WEBHOOK_USER || e.PIPEDRIVE_WEBHOOK_PASSWORD) {
    if (!e.PIPEDRIVE_WEBHOOK_USER || !e.PIPEDRIVE_WEBHOOK_PASSWORD) {
      const missing = e.PIPEDRIVE_WEBHOOK_USER ? 'PIPEDRIVE_WEBHOOK_PASSWORD' : 'PIPEDRIVE_WEBHOOK_USER';
      issues.push({
        variable: missing,
        problem: 'missing (webhook intake needs both PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD)',
      });
    } else webhookAuth = { user: e.PIPEDRIVE_WEBHOOK_USER, password: e.PIPEDRIVE_WEBHOOK_PASSWORD };
  }

  // A short password guards nothing once the dashboard listens beyond this host.
  if (!isLoopbackHost(e.DASHBOARD_HOST)) {
    for (const v of ['DASHBOARD_PASSWORD', 'PIPEDRIVE_WEBHOOK_PASSWORD'] as const) {
      const value = e[v];
      if (value && value.length < MIN_PASSWORD_LENGTH && !badVariables.has(v))
        issues.push({
          variable: v,
          problem: `too short (expected at least ${MIN_PASSWORD_LENGTH} characters while the dashboard listens beyond loopback; set DASHBOARD_HOST=127.0.0.1 to allow a short one on this host only)`,
        });
    }
  }

  const redis = redisConfig(e, issues, badVariables);

  let email: Config['alerts']['email'];
  if (e.ALERT_EMAIL_TO && e.SMTP_URL) {
    email = {
      to: e.ALERT_EMAIL_TO.split(',').map((s) => s.trim()),
      from: e.ALERT_EMAIL_FROM ?? `Pipedrive-Chatwoot Sync <${e.ALERT_EMAIL_TO.split(',')[0]!.trim()}>`,
      smtpUrl: e.SMTP_URL,
    };
  }

  if (issues.length) throw new ConfigError(dedupe(issues));

  let defaultCountry: Config['defaultCountry'];
  if (e.DEFAULT_COUNTRY_CODE) {
    defaultCountry = /^[A-Za-z]{2}$/.test(e.DEFAULT_COUNTRY_CODE)
      ? { region: e.DEFAULT_COUNTRY_CODE.toUpperCase() }
      : { callingCode: `+${e.DEFAULT_COUNTRY_CODE.replace(/^\+/, '')}` };
  }

  const secrets = [...SECRET_VARIABLES]
    .flatMap((name) => secretParts(name, source[name]))
    .filter((s): s is string => typeof s === 'string' && s.length >= 4);
  for (const s of [database.password]) if (s && s.length >= 4) secrets.push(s);

  return {
    pipedrive: {
      apiKey: e.PIPEDRIVE_API_KEY,
      baseUrl: pipedriveBaseUrl,
      customerLabel: e.PIPEDRIVE_CUSTOMER_LABEL,
      customerFilterId: e.PIPEDRIVE_CUSTOMER_FILTER_ID,
      phoneField: e.PIPEDRIVE_PHONE_FIELD,
      supportLinkField: e.PIPEDRIVE_SUPPORT_LINK_FIELD,
    },
    chatwoot: { apiKey: e.CHATWOOT_API_KEY, baseUrl: chatwootBaseUrl, accountId, inboxId: e.CHATWOOT_INBOX_ID },
    defaultCountry,
    schedules: {
      sync: e.SYNC_CRON ? { pattern: e.SYNC_CRON } : { every: e.SYNC_INTERVAL_MINUTES! * 60_000 },
      cleanup: e.CLEANUP_CRON ? { pattern: e.CLEANUP_CRON } : { every: e.CLEANUP_INTERVAL_HOURS! * 3_600_000 },
      monitor: e.MONITOR_CRON ? { pattern: e.MONITOR_CRON } : { every: e.MONITOR_INTERVAL_MINUTES! * 60_000 },
      tz: e.SCHEDULE_TZ,
    },
    thresholds: {
      alertErrorPercent: e.ALERT_ERROR_THRESHOLD,
      maxSyncAgeHours: e.MAX_SYNC_AGE_HOURS,
      alertRepeatHours: e.ALERT_REPEAT_HOURS,
      cleanupMaxPercent: e.CLEANUP_MAX_PERCENT,
    },
    batchSize: e.BATCH_SIZE!,
    cleanupAction: e.CLEANUP_ACTION,
    alerts: {
      googleChatWebhook: e.SUPPORT_GOOGLE_CHAT,
      email,
      webhookUrl: e.ALERT_WEBHOOK_URL,
      healthcheckPingUrl: e.HEALTHCHECK_PING_URL,
    },
    retentionDays: e.RETENTION_DAYS!,
    workerQueues: e.WORKER_QUEUES,
    workerHealthFile: e.WORKER_HEALTH_FILE,
    redis,
    database,
    log: {
      dir: isAbsolute(e.LOG_DIR) ? e.LOG_DIR : resolve(REPO_ROOT, e.LOG_DIR),
      level: e.LOG_LEVEL,
      maxSize: e.LOG_MAX_SIZE,
      maxFiles: e.LOG_MAX_FILES!,
    },
    dashboard: {
      port: e.DASHBOARD_PORT!,
      host: e.DASHBOARD_HOST,
      auth: dashboardAuth,
      webhookAuth,
      webhookMaxPending: e.WEBHOOK_MAX_PENDING!,
      watchdogAfterMs: e.WATCHDOG_AFTER_SECONDS! * 1000,
    },
    secrets: [...new Set(secrets)].sort((a, b) => b.length - a.length),
  };
}

const REDIS_VARIABLES = [
  'REDIS_URL',
  'QUEUE_PREFIX',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
  'REDIS_TLS_CA',
] as const;

/**
 * Only the Redis part of the configuration (REDIS_URL, QUEUE_PREFIX, REDIS_SENTINEL*, REDIS_CLUSTER_NODES,
 * REDIS_TLS_CA), for tools that need Redis and nothing else (the demo). Throws ConfigError like parseConfig.
 */
export function parseRedisConfig(source: Record<string, string | undefined>): RedisConfig {
  const picked = Object.fromEntries(REDIS_VARIABLES.map((k) => [k, source[k]]));
  const schema = envSchema.pick(
    Object.fromEntries(REDIS_VARIABLES.map((k) => [k, true])) as Record<(typeof REDIS_VARIABLES)[number], true>,
  );
  const result = schema.safeParse(picked);
  if (!result.success)
    throw new ConfigError(
      result.error.issues.map((i) => ({ variable: String(i.path[0] ?? '(environment)'), problem: i.message })),
    );
  const issues: ConfigIssue[] = [];
  const redis = redisConfig(result.data as RawEnv, issues, new Set());
  if (issues.length) throw new ConfigError(dedupe(issues));
  return redis;
}

/** REDIS_* beyond REDIS_URL: one topology at a time, a readable CA only with rediss://, db 0 on a Cluster. */
function redisConfig(e: RawEnv, issues: ConfigIssue[], bad: Set<string>): RedisConfig {
  const tlsOn = e.REDIS_URL.startsWith('rediss:');
  if (e.REDIS_SENTINELS && e.REDIS_CLUSTER_NODES)
    issues.push({
      variable: 'REDIS_CLUSTER_NODES',
      problem: 'set together with REDIS_SENTINELS (expected one of them: a Sentinel-watched master or a Cluster)',
    });
  if (e.REDIS_CLUSTER_NODES && !bad.has('REDIS_URL')) {
    const db = new URL(e.REDIS_URL).pathname.replace(/^\//, '');
    if (db && db !== '0')
      issues.push({
        variable: 'REDIS_URL',
        problem: `selects database ${db}, which a Redis Cluster does not have (expected no /db, or /0, with REDIS_CLUSTER_NODES)`,
      });
  }
  let tls: RedisConfig['tls'];
  if (tlsOn) tls = {};
  if (e.REDIS_TLS_CA) {
    if (!tlsOn && !bad.has('REDIS_URL'))
      issues.push({
        variable: 'REDIS_TLS_CA',
        problem: 'set but REDIS_URL is not rediss:// (expected a rediss:// REDIS_URL to use the CA, or leave it unset)',
      });
    const ca = readCaFile('REDIS_TLS_CA', e.REDIS_TLS_CA, "the CA that signed the Redis server's certificate", issues);
    if (tls && ca) tls = ca;
  }
  return {
    url: e.REDIS_URL,
    prefix: e.REDIS_CLUSTER_NODES ? `{${e.QUEUE_PREFIX}}` : e.QUEUE_PREFIX,
    sentinels: e.REDIS_SENTINELS,
    sentinelName: e.REDIS_SENTINEL_NAME,
    sentinelPassword: e.REDIS_SENTINEL_PASSWORD || undefined,
    clusterNodes: e.REDIS_CLUSTER_NODES,
    tls,
  };
}

/** DATABASE_URL's own TLS switch: `ssl=true|false|1|0`, or `ssl-mode`/`sslmode` as MySQL and libpq clients spell it. */
const URL_TLS_ON = new Set(['true', '1', 'required', 'require', 'verify_ca', 'verify_identity', 'verify_full']);
const URL_TLS_OFF = new Set(['false', '0', 'disabled', 'disable']);

/** MYSQL_SSL, MYSQL_SSL_CA and DATABASE_URL's TLS parameters: TLS on or off, and the CA to verify against. */
function databaseTls(e: RawEnv, issues: ConfigIssue[], bad: Set<string>): DatabaseConfig['ssl'] {
  let fromUrl: boolean | undefined;
  if (e.DATABASE_URL) {
    for (const [key, raw] of new URL(e.DATABASE_URL).searchParams) {
      if (!/^ssl([-_]?mode)?$/i.test(key)) continue;
      const v = raw.trim().toLowerCase().replace(/-/g, '_');
      if (URL_TLS_ON.has(v)) fromUrl = true;
      else if (URL_TLS_OFF.has(v)) fromUrl = false;
      else
        issues.push({
          variable: 'DATABASE_URL',
          problem: `has an unsupported ${key} value (expected ssl=true|false or ssl-mode=DISABLED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY; TLS is always verified, so REQUIRED means VERIFY_IDENTITY here)`,
        });
    }
  }
  if (fromUrl === false && e.MYSQL_SSL)
    issues.push({
      variable: 'DATABASE_URL',
      problem:
        'turns TLS off (ssl=false or ssl-mode=DISABLED) while MYSQL_SSL=true (expected one answer: drop the parameter or MYSQL_SSL)',
    });
  const on = e.MYSQL_SSL || fromUrl === true;
  if (!e.MYSQL_SSL_CA) return on ? {} : undefined;
  if (!on && !bad.has('MYSQL_SSL') && !bad.has('DATABASE_URL'))
    issues.push({
      variable: 'MYSQL_SSL_CA',
      problem:
        'set but TLS to the database is off (expected MYSQL_SSL=true to use the CA, or leave MYSQL_SSL_CA unset)',
    });
  const ca = readCaFile(
    'MYSQL_SSL_CA',
    e.MYSQL_SSL_CA,
    "the CA that signed the database server's certificate, e.g. your provider's CA bundle",
    issues,
  );
  return on ? (ca ?? {}) : undefined;
}

/**
 * A CA file named by a variable (REDIS_TLS_CA, MYSQL_SSL_CA), read once at start: a readable file
 * of one or more PEM certificates that Node can parse. Relative paths are read from the directory
 * the process starts in. Answers undefined, with the issue recorded, otherwise.
 */
function readCaFile(
  variable: string,
  value: string,
  what: string,
  issues: ConfigIssue[],
): { ca: string; caFile: string } | undefined {
  const file = isAbsolute(value) ? value : resolve(value);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({
      variable,
      problem: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (expected a readable PEM file of ${what})`,
    });
    return undefined;
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const broken = blocks.findIndex((b) => {
    try {
      new X509Certificate(b);
      return false;
    } catch {
      return true;
    }
  });
  if (!blocks.length || broken >= 0) {
    issues.push({
      variable,
      problem: `${file} ${blocks.length ? `has an unreadable certificate (number ${broken + 1} of ${blocks.length})` : 'holds no PEM certificate'} (expected one or more -----BEGIN CERTIFICATE----- blocks of ${what})`,
    });
    return undefined;
  }
  return { ca: pem, caFile: file };
}

/** The parts of a secret variable worth redacting by value: the whole value and, for URLs, password/key/token. */
function secretParts(name: string, raw: string | undefined): string[] {
  if (!raw) return [];
  // A value set with surrounding spaces is used trimmed but may be echoed raw: redact both.
  const value = raw.trim();
  const parts = raw === value ? [value] : [value, raw];
  if (/URL|GOOGLE_CHAT/.test(name)) {
    try {
      const u = new URL(value);
      if (u.password) parts.push(decodeURIComponent(u.password), u.password);
      for (const [k, v] of u.searchParams)
        if (/key|token|secret|password|sig/i.test(k) && v) parts.push(v, encodeURIComponent(v));
      // A generic receiver's token may hide under any name (`?code=`) or in the path (n8n's
      // /webhook/<uuid>): every long query value and path segment (short ones would redact words).
      if (name === 'ALERT_WEBHOOK_URL') {
        for (const [, v] of u.searchParams) if (v.length >= 12) parts.push(v, encodeURIComponent(v));
        for (const seg of u.pathname.split('/')) if (seg.length >= 16) parts.push(seg, safeDecode(seg));
      }
      if (!u.password && !u.search && name === 'REDIS_URL') return [];
      if (name === 'REDIS_URL' || name === 'DATABASE_URL') return parts.slice(1);
    } catch {
      /* not a URL: redact the whole value */
    }
  }
  return parts;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Passwords shorter than this stop the process unless the dashboard listens on loopback only. */
export const MIN_PASSWORD_LENGTH = 12;

/** True when the dashboard binds only this host (127.0.0.0/8, ::1, localhost). Unset means every interface. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.variable}\0${i.problem}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

let cached: Config | undefined;

/**
 * The process-wide configuration: `.env` merged under the real environment, parsed once.
 * A bad value throws a ConfigError naming every offending variable; the app's entry point prints
 * its lines and exits with code 2 (docs/contract.md §3).
 */
export function loadConfig(requirements: Requirement[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  cached ??= parseConfig(readEnv(env), requirements);
  return cached;
}
