import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, readEnv, REPO_ROOT } from '../src/index.js';

const base = { MYSQL_USER: 'root' };

function issuesOf(env: Record<string, string>, req: Parameters<typeof parseConfig>[1] = []) {
  try {
    parseConfig({ ...base, ...env }, req);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = parseConfig(base);
    expect(c.pipedrive.baseUrl).toBe('https://api.pipedrive.com');
    expect(c.pipedrive.customerLabel).toBe('Customer');
    expect(c.schedules.sync).toEqual({ every: 60 * 60_000 });
    expect(c.schedules.cleanup).toEqual({ every: 24 * 3_600_000 });
    expect(c.schedules.monitor).toEqual({ every: 30 * 60_000 });
    expect(c.schedules.tz).toBe('UTC');
    expect(c.thresholds).toEqual({
      alertErrorPercent: 10,
      maxSyncAgeHours: 2,
      alertRepeatHours: 4,
      cleanupMaxPercent: 10,
    });
    expect(c.batchSize).toBe(50);
    expect(c.cleanupAction).toBe('mark');
    expect(c.workerQueues).toEqual(['sync', 'cleanup', 'monitor', 'notifications']);
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'pcs', sentinelName: 'mymaster' });
    expect(c.database).toEqual({
      host: '127.0.0.1',
      port: 3306,
      user: 'root',
      password: '',
      database: 'pipedrive_chatwoot_sync',
    });
    expect(c.log.maxSize).toBe('10m');
    expect(c.log.maxFiles).toBe(5);
    expect(c.dashboard.port).toBe(3000);
    expect(c.retentionDays).toBe(90);
    expect(c.dashboard.webhookMaxPending).toBe(10_000);
  });

  it("checks cron patterns with BullMQ's own parser", () => {
    const issues = issuesOf({ SYNC_CRON: '60 * * * *', CLEANUP_CRON: '* * *', MONITOR_CRON: '0 */2 * * *' });
    expect(issues.map((i) => i.variable).sort()).toEqual(['CLEANUP_CRON', 'SYNC_CRON']);
    expect(issues.find((i) => i.variable === 'SYNC_CRON')!.problem).toMatch(/0-59/);
  });

  it('refuses a short dashboard or webhook password unless the dashboard listens on loopback only', () => {
    const short = {
      DASHBOARD_USER: 'ops',
      DASHBOARD_PASSWORD: 'x',
      PIPEDRIVE_WEBHOOK_USER: 'pd',
      PIPEDRIVE_WEBHOOK_PASSWORD: 'short',
    };
    expect(
      issuesOf(short)
        .map((i) => i.variable)
        .sort(),
    ).toEqual(['DASHBOARD_PASSWORD', 'PIPEDRIVE_WEBHOOK_PASSWORD']);
    expect(issuesOf({ ...short, DASHBOARD_HOST: '0.0.0.0' })).toHaveLength(2);
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]'])
      expect(issuesOf({ ...short, DASHBOARD_HOST: host })).toEqual([]);
    expect(
      issuesOf({ ...short, DASHBOARD_PASSWORD: '12 characters', PIPEDRIVE_WEBHOOK_PASSWORD: 'also long enough' }),
    ).toEqual([]);
    // The message never carries the value.
    expect(JSON.stringify(issuesOf({ ...short, PIPEDRIVE_WEBHOOK_PASSWORD: 'tiny-pw' }))).not.toContain('tiny-pw');
  });

  it('redacts a secret set with surrounding spaces both trimmed and as written', () => {
    const c = parseConfig({ ...base, CHATWOOT_API_KEY: '  cw-secret-9876 \t' });
    expect(c.secrets).toEqual(expect.arrayContaining(['cw-secret-9876', '  cw-secret-9876 \t']));
  });

  it('accepts the seed deployment formats', () => {
    const c = parseConfig({
      ...base,
      CHATWOOT_BASE_URL: 'https://support.example.com/api/v1/accounts/2',
      PIPEDRIVE_BASE_URL: 'https://acme.pipedrive.com/v1',
      DEFAULT_COUNTRY_CODE: '+61',
    });
    expect(c.chatwoot.baseUrl).toBe('https://support.example.com');
    expect(c.chatwoot.accountId).toBe(2);
    expect(c.pipedrive.baseUrl).toBe('https://acme.pipedrive.com');
    expect(c.defaultCountry).toEqual({ callingCode: '+61' });
    expect(parseConfig({ ...base, PIPEDRIVE_BASE_URL: 'https://acme.pipedrive.com/api/v2/' }).pipedrive.baseUrl).toBe(
      'https://acme.pipedrive.com',
    );
    expect(parseConfig({ ...base, DEFAULT_COUNTRY_CODE: 'au' }).defaultCountry).toEqual({ region: 'AU' });
  });

  it('lets a cron pattern override the interval', () => {
    const c = parseConfig({ ...base, SYNC_CRON: '*/15 * * * *', SCHEDULE_TZ: 'Australia/Sydney' });
    expect(c.schedules.sync).toEqual({ pattern: '*/15 * * * *' });
    expect(c.schedules.tz).toBe('Australia/Sydney');
  });

  it('builds the database settings from DATABASE_URL', () => {
    const c = parseConfig({ DATABASE_URL: 'mysql://app:p%40ss@db.internal:3307/sync' });
    expect(c.database).toEqual({ host: 'db.internal', port: 3307, user: 'app', password: 'p@ss', database: 'sync' });
  });

  it('names every bad variable at once, with what is expected', () => {
    const issues = issuesOf({
      BATCH_SIZE: 'lots',
      CLEANUP_ACTION: 'purge',
      WORKER_QUEUES: 'sync,emails',
      SCHEDULE_TZ: 'Mars/Olympus',
      REDIS_URL: 'localhost',
    });
    const vars = issues.map((i) => i.variable).sort();
    expect(vars).toEqual(['BATCH_SIZE', 'CLEANUP_ACTION', 'REDIS_URL', 'SCHEDULE_TZ', 'WORKER_QUEUES']);
    expect(issues.find((i) => i.variable === 'CLEANUP_ACTION')!.problem).toMatch(/mark or delete/);
    expect(issues.find((i) => i.variable === 'WORKER_QUEUES')!.problem).toMatch(/emails/);
  });

  it('reports missing requirements of the process', () => {
    const vars = issuesOf({ DASHBOARD_AUTH: 'on' }, ['pipedrive', 'chatwoot', 'dashboardAuth']).map((i) => i.variable);
    expect(vars).toEqual(
      expect.arrayContaining([
        'PIPEDRIVE_API_KEY',
        'CHATWOOT_BASE_URL',
        'CHATWOOT_API_KEY',
        'DASHBOARD_USER',
        'DASHBOARD_PASSWORD',
      ]),
    );
    expect(issuesOf({ DASHBOARD_AUTH: 'off' }, ['dashboardAuth'])).toEqual([]);
    expect(
      issuesOf({ CHATWOOT_BASE_URL: 'https://cw.example.com', CHATWOOT_API_KEY: 'k' }, ['chatwoot']).map(
        (i) => i.variable,
      ),
    ).toEqual(['CHATWOOT_ACCOUNT_ID']);
  });

  it('rejects an account id that contradicts the base URL', () => {
    const issues = issuesOf({
      CHATWOOT_BASE_URL: 'https://cw.example.com/api/v1/accounts/2',
      CHATWOOT_ACCOUNT_ID: '3',
    });
    expect(issues.map((i) => i.variable)).toEqual(['CHATWOOT_ACCOUNT_ID']);
  });

  it('never echoes a secret in an error', () => {
    const secret = 'https://chat.googleapis.com/v1/spaces/X/messages?key=AIzaSECRETKEY&token=SECRETTOKEN';
    const err = (() => {
      try {
        parseConfig({
          ...base,
          SUPPORT_GOOGLE_CHAT: secret.replace('https', 'htps'),
          SMTP_URL: 'http://u:hunter22@smtp',
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain('SUPPORT_GOOGLE_CHAT');
    expect(err!.message).toContain('SMTP_URL');
    expect(err!.message).not.toMatch(/SECRETKEY|SECRETTOKEN|hunter22/);
  });

  it('collects the secret values for redaction, including the webhook key and token', () => {
    const c = parseConfig({
      ...base,
      PIPEDRIVE_API_KEY: 'pd-secret-1234',
      SUPPORT_GOOGLE_CHAT: 'https://chat.googleapis.com/v1/spaces/X/messages?key=AIzaKEY123&token=TOK%3D456',
      REDIS_URL: 'redis://:redispass@127.0.0.1:6379',
    });
    expect(c.secrets).toEqual(expect.arrayContaining(['pd-secret-1234', 'AIzaKEY123', 'TOK=456', 'redispass']));
    expect(c.secrets).not.toContain('redis://:redispass@127.0.0.1:6379'.slice(0, 3));
  });

  it('reads .env under the real environment, which wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'BATCH_SIZE=7\nQUEUE_PREFIX=fromfile\n');
    const merged = readEnv({ ENV_FILE: file, QUEUE_PREFIX: 'fromenv' });
    expect(merged.BATCH_SIZE).toBe('7');
    expect(merged.QUEUE_PREFIX).toBe('fromenv');
  });

  it('stops a process (`pnpm run worker`) with exit 2 and one line per bad variable', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/worker/src/main.ts')], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        ENV_FILE: 'none',
        BATCH_SIZE: '0',
        LOG_MAX_FILES: 'x',
        PIPEDRIVE_API_KEY: '',
        MYSQL_USER: 'root',
        CHATWOOT_BASE_URL: 'http://127.0.0.1:9/api/v1/accounts/1',
        CHATWOOT_API_KEY: 'k',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(2);
    expect(res.stdout).not.toContain('worker starting');
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).toMatch(/BATCH_SIZE: .*between 1 and 500/);
    expect(lines.join('\n')).toMatch(/LOG_MAX_FILES/);
    expect(lines.join('\n')).toMatch(/PIPEDRIVE_API_KEY: missing/);
  });

  it('stops a process with exit 2 naming SYNC_CRON for "60 * * * *" and DASHBOARD_PASSWORD for a short one', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/worker/src/main.ts')], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        ENV_FILE: 'none',
        SYNC_CRON: '60 * * * *',
        DASHBOARD_USER: 'ops',
        DASHBOARD_PASSWORD: 'pw',
        PIPEDRIVE_API_KEY: 'k',
        MYSQL_USER: 'root',
        CHATWOOT_BASE_URL: 'http://127.0.0.1:9/api/v1/accounts/1',
        CHATWOOT_API_KEY: 'k',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/SYNC_CRON: not a valid cron pattern/);
    expect(res.stderr).toMatch(/DASHBOARD_PASSWORD: too short/);
    expect(res.stderr + res.stdout).not.toMatch(/"pw"|=pw\b/);
  });
});
