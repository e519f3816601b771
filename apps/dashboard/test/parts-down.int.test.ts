import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '@pcs/db';
import { startMysqlProxy, startRedis, type MysqlProxy, type OwnRedis } from '../../../test/support/chaos.js';
import {
  createTestDatabase,
  tempDir,
  testEnv,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '../../../test/support/index.js';
import { spawnApp, type AppProcess } from '../../../test/support/processes.js';

/**
 * docs/contract.md §4: /readyz and /metrics say which part is down (`redis`, `database`), and
 * never what the driver said (host, port, user names). The database sits behind a proxy the test
 * cuts, and Redis is a redis-server of the test's own that it stops; the shared services are never
 * touched.
 */

const HOOK = { user: 'pipedrive', password: 'hook secret 42' };
/** Words of mysql2, ioredis and Node's socket errors that must never reach an HTTP answer. */
const DRIVER_TEXT =
  /ECONN|ETIMEDOUT|EHOSTUNREACH|EPIPE|getaddrinfo|127\.0\.0\.1|'root'|Access denied|Connection is closed|Connection lost|MaxRetriesPerRequest|did not answer|ER_[A-Z_]+|Error:/;

describe('the public endpoints while a part is down', () => {
  let db: TestDatabase;
  let proxy: MysqlProxy;
  let redis: OwnRedis;
  let dash: AppProcess;
  let base = '';

  beforeAll(async () => {
    db = await createTestDatabase('partsdown');
    (await openDatabase(db.config)).ds.destroy().catch(() => undefined);
    proxy = await startMysqlProxy();
    redis = await startRedis();
    dash = spawnApp(
      'dashboard',
      testEnv({
        prefix: uniqueName('partsdown'),
        database: db.config.database,
        logDir: tempDir('partsdown-logs'),
        extra: {
          DASHBOARD_PORT: '0',
          DASHBOARD_AUTH: 'off',
          REDIS_URL: redis.url,
          MYSQL_PORT: String(proxy.port),
          PIPEDRIVE_WEBHOOK_USER: HOOK.user,
          PIPEDRIVE_WEBHOOK_PASSWORD: HOOK.password,
        },
      }),
    );
    await dash.waitFor(/"port":(\d+),"board"/);
    base = `http://127.0.0.1:${/"port":(\d+),"board"/.exec(dash.output())![1]}`;
  });
  afterAll(async () => {
    await dash?.stop();
    await proxy?.close();
    await redis?.close();
    await db?.drop();
  });

  const readyz = async () => {
    const r = await fetch(`${base}/readyz`);
    return { status: r.status, text: await r.text() };
  };
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  /** The pcs_ lines of a scrape (the dashboard's own process metrics aside). */
  const pcsLines = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('pcs_') && !l.startsWith('pcs_dashboard_'))
      .join('\n');

  it('names the database, and only as a part, while it is cut; recovers when it is back', async () => {
    expect((await readyz()).status).toBe(200);
    const up = await metrics();
    expect(up).toContain('pcs_up{part="database"} 1');
    expect(up).toMatch(/^pcs_sync_runs_total\{/m);
    expect(up).toMatch(/^pcs_alerts_firing\{/m);

    await proxy.cut();
    const down = await waitFor(async () => ((await readyz()).status === 503 ? readyz() : undefined), {
      timeoutMs: 10_000,
      what: '/readyz to answer 503',
    });
    expect(JSON.parse(down.text)).toEqual({ status: 'unavailable', down: ['database'] });
    expect(down.text).not.toMatch(DRIVER_TEXT);

    const scrape = await waitFor(
      async () => {
        const t = await metrics();
        return t.includes('pcs_up{part="database"} 0') ? t : undefined;
      },
      { timeoutMs: 30_000, what: 'pcs_up{part="database"} 0' },
    );
    expect(scrape).toContain('pcs_up{part="redis"} 1');
    expect(pcsLines(scrape)).toMatch(/pcs_queue_jobs\{queue="sync",state="waiting"\} 0/);
    // The database's metrics are left out, not shown stale or as an error.
    expect(scrape).not.toMatch(/^pcs_sync_runs_total\{/m);
    expect(scrape).not.toMatch(/^pcs_alerts_firing\{/m);
    // No comment reporting a failure (a metric's HELP may name the label value "error").
    expect(scrape).not.toMatch(/^#(?! (HELP|TYPE) ).*(unavailable|error)/im);
    expect(pcsLines(scrape)).not.toMatch(DRIVER_TEXT);

    await proxy.restore();
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 15_000, what: '/readyz back to 200' });
    await waitFor(async () => (await metrics()).includes('pcs_up{part="database"} 1'), {
      timeoutMs: 30_000,
      what: 'pcs_up{part="database"} 1',
    });
  });

  it('names Redis while it is stopped, and the webhook intake answers 503 with Retry-After', async () => {
    await redis.stop();
    try {
      const down = await waitFor(async () => ((await readyz()).status === 503 ? readyz() : undefined), {
        timeoutMs: 10_000,
        what: '/readyz to answer 503',
      });
      expect(JSON.parse(down.text)).toEqual({ status: 'unavailable', down: ['redis'] });
      const scrape = await waitFor(
        async () => {
          const t = await metrics();
          return t.includes('pcs_up{part="redis"} 0') ? t : undefined;
        },
        { timeoutMs: 30_000, what: 'pcs_up{part="redis"} 0' },
      );
      expect(scrape).toContain('pcs_up{part="database"} 1');
      expect(scrape).not.toMatch(/^pcs_queue_jobs\{/m);
      expect(pcsLines(scrape)).not.toMatch(DRIVER_TEXT);

      const hook = await fetch(`${base}/webhooks/pipedrive`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${HOOK.user}:${HOOK.password}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ meta: { action: 'change', entity: 'organization', entity_id: '5' }, data: {} }),
      });
      expect(hook.status).toBe(503);
      expect(hook.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await hook.text()).not.toMatch(DRIVER_TEXT);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 15_000, what: '/readyz back to 200' });
  });

  it('logged the outages as warnings, with no error stack from the endpoints', () => {
    const lines = dash
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.some((l) => l.level === 'warn' && /database unreachable/.test(l.msg))).toBe(true);
    expect(lines.some((l) => l.level === 'warn' && /redis unreachable/.test(l.msg))).toBe(true);
    expect(lines.filter((l) => l.level === 'error' && /request failed|metrics/.test(l.msg))).toEqual([]);
  });
});
