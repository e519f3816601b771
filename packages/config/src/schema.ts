import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { QUEUE_NAMES, type QueueName } from '@pcs/queues/names';

/**
 * Every environment variable of docs/contract.md §3, in one schema. Values arrive as strings (or
 * undefined); each field says what it accepts and turns it into a typed value. Secrets are marked
 * in SECRET_VARIABLES so that no error message, log line or CLI output ever echoes them.
 */

export const SECRET_VARIABLES = new Set([
  'PIPEDRIVE_API_KEY',
  'CHATWOOT_API_KEY',
  'SUPPORT_GOOGLE_CHAT',
  'SMTP_URL',
  'ALERT_WEBHOOK_URL',
  'HEALTHCHECK_PING_URL',
  'DATABASE_URL',
  'MYSQL_PASSWORD',
  'REDIS_URL',
  'REDIS_SENTINEL_PASSWORD',
  'DASHBOARD_PASSWORD',
  'PIPEDRIVE_WEBHOOK_PASSWORD',
]);

const blankToUndefined = (v: unknown) =>
  typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v;

const optionalString = () => z.preprocess(blankToUndefined, z.string().optional());

const int = (opts: { min?: number; max?: number; def?: number; what: string }) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return opts.def;
        if (!/^-?\d+$/.test(v)) {
          ctx.addIssue({ code: 'custom', message: `not a whole number (expected ${opts.what})` });
          return z.NEVER;
        }
        const n = Number(v);
        if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
          ctx.addIssue({ code: 'custom', message: `out of range (expected ${opts.what})` });
          return z.NEVER;
        }
        return n;
      }),
  );

const num = (opts: { min?: number; max?: number; def: number; what: string; exclusiveMin?: boolean }) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return opts.def;
        const n = Number(v.replace(/%$/, ''));
        const tooLow = opts.min !== undefined && (opts.exclusiveMin ? n <= opts.min : n < opts.min);
        if (!Number.isFinite(n) || tooLow || (opts.max !== undefined && n > opts.max)) {
          ctx.addIssue({ code: 'custom', message: `not a valid number (expected ${opts.what})` });
          return z.NEVER;
        }
        return n;
      }),
  );

const url = (what: string, protocols: string[] = ['http:', 'https:']) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .refine((v) => {
        if (v === undefined) return true;
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      }, `not a valid URL (expected ${what})`),
  );

/**
 * `host:port,host:port,…` (Redis Sentinels, Redis Cluster nodes): a list of at least one address,
 * each with a port; an IPv6 host is written in brackets (`[::1]:26379`).
 */
const hostPortList = (what: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        const out: { host: string; port: number }[] = [];
        for (const item of v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)) {
          const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(item);
          const port = m ? Number(m[3]) : 0;
          if (!m || port < 1 || port > 65_535) {
            ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port (expected ${what})` });
            return z.NEVER;
          }
          out.push({ host: m[1] ?? m[2]!, port });
        }
        if (!out.length) {
          ctx.addIssue({ code: 'custom', message: `empty (expected ${what})` });
          return z.NEVER;
        }
        return out;
      }),
  );

/**
 * A cron pattern, checked with the parser BullMQ's job schedulers use (cron-parser), so a pattern
 * that would fail when the scheduler is written (e.g. "60 * * * *") stops the process at start.
 */
const cron = () =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        const fields = v.split(/\s+/).length;
        if (fields < 5 || fields > 6) {
          ctx.addIssue({ code: 'custom', message: `has ${fields} fields (expected 5 or 6, e.g. "*/30 * * * *")` });
          return;
        }
        try {
          CronExpressionParser.parse(v);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          ctx.addIssue({
            code: 'custom',
            message: `not a valid cron pattern: ${why} (expected 5 or 6 fields, e.g. "*/30 * * * *")`,
          });
        }
      }),
  );

const boolOnOff = (def: 'on' | 'off') =>
  z.preprocess(
    (v) => {
      const s = blankToUndefined(v);
      if (typeof s !== 'string') return s;
      const l = s.toLowerCase();
      return ['on', 'true', '1', 'yes'].includes(l) ? 'on' : ['off', 'false', '0', 'no'].includes(l) ? 'off' : s;
    },
    z.enum(['on', 'off'], { message: 'expected on or off' }).default(def),
  );

/** A yes/no switch read like boolOnOff (true/false, 1/0, yes/no, on/off), as a boolean. */
const bool = (def: boolean) =>
  z.preprocess(
    (v) => {
      const s = blankToUndefined(v);
      if (typeof s !== 'string') return s;
      const l = s.toLowerCase();
      return ['on', 'true', '1', 'yes'].includes(l) ? true : ['off', 'false', '0', 'no'].includes(l) ? false : s;
    },
    z.boolean({ message: 'expected true or false (or 1/0)' }).default(def),
  );

export const envSchema = z.object({
  // Sources and targets
  PIPEDRIVE_API_KEY: optionalString(),
  PIPEDRIVE_BASE_URL: url('the company origin, e.g. https://acme.pipedrive.com').default('https://api.pipedrive.com'),
  PIPEDRIVE_CUSTOMER_LABEL: optionalString().default('Customer'),
  PIPEDRIVE_CUSTOMER_FILTER_ID: int({ min: 1, what: 'the id of a saved Pipedrive organization filter' }),
  PIPEDRIVE_PHONE_FIELD: optionalString(),
  PIPEDRIVE_SUPPORT_LINK_FIELD: optionalString(),
  CHATWOOT_BASE_URL: url('the Chatwoot origin, e.g. https://support.example.com (or …/api/v1/accounts/<id>)'),
  CHATWOOT_API_KEY: optionalString(),
  CHATWOOT_ACCOUNT_ID: int({ min: 1, what: 'a positive account id' }),
  CHATWOOT_INBOX_ID: int({ min: 1, what: 'a positive inbox id' }),
  DEFAULT_COUNTRY_CODE: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .refine(
        (v) => v === undefined || /^\+?[1-9]\d{0,3}$/.test(v) || /^[A-Za-z]{2}$/.test(v),
        'expected a calling code such as +61 or an ISO region such as AU',
      ),
  ),

  // Schedules and thresholds
  SYNC_INTERVAL_MINUTES: int({ min: 1, max: 10_080, def: 60, what: 'minutes between 1 and 10080' }),
  CLEANUP_INTERVAL_HOURS: int({ min: 1, max: 8_760, def: 24, what: 'hours between 1 and 8760' }),
  MONITOR_INTERVAL_MINUTES: int({ min: 1, max: 10_080, def: 30, what: 'minutes between 1 and 10080' }),
  SYNC_CRON: cron(),
  CLEANUP_CRON: cron(),
  MONITOR_CRON: cron(),
  SCHEDULE_TZ: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .default('UTC')
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'unknown time zone (expected an IANA name such as UTC or Australia/Sydney)'),
  ),
  ALERT_ERROR_THRESHOLD: num({ min: 0, max: 100, def: 10, what: 'a percentage between 0 and 100' }),
  MAX_SYNC_AGE_HOURS: num({ min: 0, exclusiveMin: true, def: 2, what: 'a positive number of hours' }),
  ALERT_REPEAT_HOURS: num({ min: 0, exclusiveMin: true, def: 4, what: 'a positive number of hours' }),
  BATCH_SIZE: int({ min: 1, max: 500, def: 50, what: 'a whole number between 1 and 500' }),
  CLEANUP_ACTION: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? (blankToUndefined(v) as string).toLowerCase() : undefined),
    z.enum(['mark', 'delete'], { message: 'expected mark or delete' }).default('mark'),
  ),
  CLEANUP_MAX_PERCENT: num({ min: 0, max: 100, def: 10, what: 'a percentage between 0 and 100' }),

  // Alerts
  SUPPORT_GOOGLE_CHAT: url(
    'a Google Chat incoming webhook URL (https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…)',
  ),
  ALERT_EMAIL_TO: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .refine(
        (v) => v === undefined || v.split(',').every((a) => /^[^@\s]+@[^@\s]+$/.test(a.trim())),
        'expected one or more comma-separated email addresses',
      ),
  ),
  ALERT_EMAIL_FROM: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .refine((v) => v === undefined || /[^@\s<]+@[^@\s>]+/.test(v), 'expected an email address'),
  ),
  SMTP_URL: url('an SMTP URL such as smtps://user:app-password@smtp.gmail.com:465', ['smtp:', 'smtps:']),
  // docs/contract.md §3: a generic receiver of every alert as the §6 JSON; may carry a token (a secret).
  ALERT_WEBHOOK_URL: url('an http(s) URL that receives each alert as JSON (a POST)'),
  HEALTHCHECK_PING_URL: url('an http(s) URL to GET after each successful sync'),

  // Infrastructure
  WORKER_QUEUES: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return [...QUEUE_NAMES];
        const list = [
          ...new Set(
            v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          ),
        ];
        const bad = list.filter((q) => !(QUEUE_NAMES as readonly string[]).includes(q));
        if (bad.length || list.length === 0) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown queue ${bad.join(', ') || '(empty)'} (expected a comma-separated subset of ${QUEUE_NAMES.join(',')})`,
          });
          return z.NEVER;
        }
        return list as QueueName[];
      }),
  ),
  WORKER_HEALTH_FILE: optionalString(),
  REDIS_URL: url('redis://[user:password@]host:port[/db]', ['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'expected 1-40 letters, digits, _ . or -')
      .default('pcs'),
  ),
  // docs/contract.md §3 "Redis beyond one server": Sentinel, Cluster, and a CA for rediss://.
  REDIS_SENTINELS: hostPortList('host:port,host:port,… of Redis Sentinels, e.g. 10.0.0.5:26379,10.0.0.6:26379'),
  REDIS_SENTINEL_NAME: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'expected the master group name the Sentinels monitor, e.g. mymaster')
      .default('mymaster'),
  ),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: hostPortList('host:port,… of one or more Redis Cluster nodes, e.g. 10.0.0.7:6379,10.0.0.8:6379'),
  REDIS_TLS_CA: optionalString(),
  DATABASE_URL: url('mysql://user:password@host:port/database', ['mysql:', 'mariadb:']),
  MYSQL_HOST: optionalString().default('127.0.0.1'),
  MYSQL_PORT: int({ min: 1, max: 65_535, def: 3306, what: 'a TCP port' }),
  MYSQL_USER: optionalString(),
  MYSQL_PASSWORD: z.string().optional(),
  MYSQL_DATABASE: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_$]{1,64}$/, 'expected a database name of letters, digits, _ or $')
      .default('pipedrive_chatwoot_sync'),
  ),
  // docs/contract.md §3: TLS to the database (managed databases); the CA file is read and checked in index.ts.
  MYSQL_SSL: bool(false),
  MYSQL_SSL_CA: optionalString(),
  RETENTION_DAYS: int({ min: 1, max: 3650, def: 90, what: 'a whole number of days between 1 and 3650' }),
  WEBHOOK_MAX_PENDING: int({
    min: 1,
    max: 1_000_000,
    def: 10_000,
    what: 'a whole number of pending targeted syncs between 1 and 1000000',
  }),
  LOG_DIR: optionalString().default('logs'),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? (blankToUndefined(v) as string).toLowerCase() : undefined),
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'expected fatal, error, warn, info, debug, trace or silent',
      })
      .default('info'),
  ),
  LOG_MAX_SIZE: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\d+(\.\d+)?[kmg]?b?$/i, 'expected a size such as 10m, 500k or 1g')
      .default('10m'),
  ),
  LOG_MAX_FILES: int({ min: 1, max: 1000, def: 5, what: 'a whole number of files between 1 and 1000' }),
  DASHBOARD_PORT: int({ min: 0, max: 65_535, def: 3000, what: 'a TCP port' }),
  DASHBOARD_HOST: optionalString(),
  DASHBOARD_USER: optionalString(),
  DASHBOARD_PASSWORD: z.string().optional(),
  DASHBOARD_AUTH: boolOnOff('on'),
  WATCHDOG_AFTER_SECONDS: int({ min: 1, max: 86_400, def: 300, what: 'seconds between 1 and 86400' }),
  PIPEDRIVE_WEBHOOK_USER: optionalString(),
  PIPEDRIVE_WEBHOOK_PASSWORD: z.string().optional(),
});

export type RawEnv = z.infer<typeof envSchema>;

/** The names of every variable the schema knows (for the README's configuration table test). */
export const VARIABLE_NAMES = Object.keys(envSchema.shape) as (keyof RawEnv)[];
