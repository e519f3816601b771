import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DataSource } from '@pcs/db';
import type { Alert } from '@pcs/notify';
import {
  AlertEngine,
  MemoryAlertStore,
  MysqlAlertStore,
  parseDuration,
  RedisAlertStore,
  type AlertStore,
  type Condition,
} from '../src/index.js';
import {
  createTestDatabase,
  dropPrefix,
  REDIS_URL,
  uniqueName,
  type TestDatabase,
} from '../../../test/support/index.js';

const H = 3_600_000;
const t0 = new Date('2026-11-27T10:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * H);
const apiDown: Condition = {
  fingerprint: 'monitor:pipedrive-api',
  script: 'monitor',
  level: 'ERROR',
  errorType: 'auth issue',
  message: 'Pipedrive rejected the API token (401)',
  details: { api: 'Pipedrive' },
};
const stale: Condition = {
  fingerprint: 'monitor:sync-status:stale',
  script: 'monitor',
  level: 'WARNING',
  errorType: 'data mismatch',
  message: '12 customer organizations unsynced for more than 2 h',
  inhibitedBy: ['monitor:pipedrive-api'],
};

/** An engine on a fake clock; `sent` is what its relay hands over. */
function engineOn(store: AlertStore) {
  let now = at(0);
  const engine = new AlertEngine({ primary: store, channel: 'queue', repeatHours: 4, clock: () => now });
  const sent: Alert[] = [];
  return {
    engine,
    sent,
    at: (hours: number) => (now = at(hours)),
    /** Observe at a time, relay, and return what this observation sent. */
    async observe(hours: number, fp: string, c: Condition | null) {
      now = at(hours);
      const before = sent.length;
      await engine.observe(fp, c, { observedAt: now });
      await engine.relay(async (a) => void sent.push(a));
      return sent.slice(before);
    },
  };
}

describe('alert engine', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let redis: Redis;
  const prefix = uniqueName('engine');
  beforeAll(async () => {
    db = await createTestDatabase('engine');
    ds = (await openDatabase(db.config)).ds;
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  });
  afterAll(async () => {
    await ds.destroy();
    redis.disconnect();
    await dropPrefix(prefix);
    await db.drop();
  });

  const stores: [string, () => AlertStore][] = [
    ['MySQL', () => new MysqlAlertStore(ds)],
    ['Redis', () => new RedisAlertStore(redis, `${prefix}:${Math.random().toString(36).slice(2)}`)],
    ['memory', () => new MemoryAlertStore()],
  ];

  describe.each(stores)('rules, state in %s', (_name, makeStore) => {
    it('fires once, repeats no sooner than ALERT_REPEAT_HOURS, resolves once in the same thread', async () => {
      const e = engineOn(makeStore());
      const fp = `${apiDown.fingerprint}:${_name}`;
      const c = { ...apiDown, fingerprint: fp };
      const [first, ...more] = await e.observe(0, fp, c);
      expect(more).toEqual([]);
      expect(first).toMatchObject({ state: 'firing', level: 'ERROR', error_type: 'auth issue', fingerprint: fp });
      expect(first!.timestamp).toBe('2026-11-27 10:00:00 UTC');
      for (const h of [0.5, 1, 2, 3.9]) expect(await e.observe(h, fp, c)).toEqual([]);
      const [repeat] = await e.observe(4, fp, c);
      expect(repeat!.details).toMatchObject({ repeat: true, firing_since: '2026-11-27 10:00:00 UTC' });
      const [resolved] = await e.observe(5, fp, null);
      expect(resolved).toMatchObject({ state: 'resolved', fingerprint: fp });
      expect(resolved!.message).toMatch(/^Resolved: /);
      expect(await e.observe(6, fp, null)).toEqual([]);
    });

    it('a condition caused by an API being down does not alert while that API alert fires', async () => {
      const e = engineOn(makeStore());
      await e.observe(10, apiDown.fingerprint, apiDown);
      expect(await e.observe(10.5, stale.fingerprint, stale)).toEqual([]);
      expect((await e.engine.firing({ fingerprints: [stale.fingerprint] })).length).toBe(1);
      await e.observe(11, apiDown.fingerprint, null);
      // The API is back but the records are still stale: now it is news.
      expect(await e.observe(11.5, stale.fingerprint, stale)).toHaveLength(1);
    });

    it('silences like Alertmanager: nothing while silenced, nothing resolved that was never told', async () => {
      const e = engineOn(makeStore());
      const fp = 'monitor:chatwoot-api:down';
      const c: Condition = {
        fingerprint: fp,
        script: 'monitor',
        level: 'ERROR',
        errorType: 'API failure',
        message: 'Chatwoot unreachable',
      };
      e.at(19);
      await e.engine.silence(fp, at(22));
      expect(await e.observe(20, fp, c)).toEqual([]);
      expect(await e.observe(21, fp, null)).toEqual([]);
      // after the silence ends, a new firing is told
      expect(await e.observe(23, fp, c)).toHaveLength(1);
      await e.engine.silence(fp, at(48));
      expect(await e.observe(28, fp, c)).toEqual([]);
      expect(await e.engine.unsilence(fp)).toBe(true);
      expect(await e.observe(28.5, fp, c)).toHaveLength(1);
      expect(await e.engine.unsilence('never:seen')).toBe(false);
    });

    it('an observation older than the last change of state changes nothing', async () => {
      const e = engineOn(makeStore());
      const fp = 'monitor:queues';
      const c: Condition = {
        fingerprint: fp,
        script: 'monitor',
        level: 'ERROR',
        errorType: 'system error',
        message: 'no worker',
      };
      expect(await e.observe(30, fp, c)).toHaveLength(1);
      expect(await e.observe(31, fp, null)).toHaveLength(1);
      // A check that looked at 30.5 (before the fix) and reports at 32: no new incident.
      e.at(32);
      const d = await e.engine.observe(fp, c, { observedAt: at(30.5) });
      expect(d.quiet).toBe('stale');
      expect(await e.observe(32, fp, null)).toEqual([]);
    });

    it('observeGroup resolves what the group no longer reports', async () => {
      const e = engineOn(makeStore());
      const a: Condition = { ...stale, fingerprint: 'monitor:sync-status:stale', inhibitedBy: [] };
      const b: Condition = { ...stale, fingerprint: 'monitor:sync-status:error-rate', inhibitedBy: [] };
      e.at(40);
      await e.engine.observeGroup('monitor:sync-status', [a, b], at(40));
      await e.engine.observeGroup('monitor:sync-status', [b], at(41));
      const firing = (await e.engine.firing({ prefix: 'monitor:sync-status' })).map((r) => r.fingerprint);
      expect(firing).toEqual(['monitor:sync-status:error-rate']);
      // A sibling group with a longer name is not part of this one.
      await e.engine.observe(
        'monitor:sync-statusx',
        { ...a, fingerprint: 'monitor:sync-statusx' },
        { observedAt: at(41) },
      );
      await e.engine.observeGroup('monitor:sync-status', [], at(42));
      expect((await e.engine.firing()).map((r) => r.fingerprint)).toContain('monitor:sync-statusx');
    });
  });

  it('one incident is one message, however many processes evaluate it at once', async () => {
    // Two engines on two data sources (two connection pools, as two workers would have).
    const other = (await openDatabase(db.config, { migrate: false })).ds;
    try {
      const engines = [ds, other].map(
        (d) => new AlertEngine({ primary: new MysqlAlertStore(d), channel: 'queue', repeatHours: 4 }),
      );
      const fp = 'sync:failed:auth-issue';
      const c: Condition = {
        fingerprint: fp,
        script: 'sync',
        level: 'ERROR',
        errorType: 'auth issue',
        message: 'revoked',
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => engines[i % 2]!.observe(fp, c)));
      const sent: Alert[] = [];
      await engines[0]!.relay(async (a) => void sent.push(a));
      expect(sent.filter((a) => a.fingerprint === fp)).toHaveLength(1);
      await Promise.all(Array.from({ length: 20 }, (_, i) => engines[i % 2]!.observe(fp, null)));
      await engines[1]!.relay(async (a) => void sent.push(a));
      expect(sent.filter((a) => a.fingerprint === fp).map((a) => a.state)).toEqual(['firing', 'resolved']);
    } finally {
      await other.destroy();
    }
  });

  it('a message is committed with its state and stays in the outbox until the relay hands it over', async () => {
    const engine = new AlertEngine({ primary: new MysqlAlertStore(ds), channel: 'queue', repeatHours: 4 });
    const fp = 'cleanup:refused';
    await engine.observe(fp, {
      fingerprint: fp,
      script: 'cleanup',
      level: 'WARNING',
      errorType: 'cleanup refused',
      message: 'too many',
    });
    // The queue is away: the relay fails, the message waits.
    await expect(engine.relay(async () => Promise.reject(new Error('Redis is down')))).rejects.toThrow(/Redis is down/);
    const sent: { alert: Alert; id: string }[] = [];
    await engine.relay(async (alert, id) => void sent.push({ alert, id }));
    expect(sent.map((s) => s.alert.fingerprint)).toContain(fp);
    // Relayed once: nothing left.
    const again: Alert[] = [];
    await engine.relay(async (a) => void again.push(a));
    expect(again).toEqual([]);
  });

  it('state kept in the fallback store while the primary is away comes back into the primary', async () => {
    const fallback = new RedisAlertStore(redis, `${prefix}:fb`);
    let reachable = false;
    const primary = new MysqlAlertStore(() => (reachable ? ds : undefined));
    const engine = new AlertEngine({ primary, fallback, channel: 'queue', repeatHours: 4 });
    const fp = 'sync:failed:database-connection-failure';
    const c: Condition = {
      fingerprint: fp,
      script: 'sync',
      level: 'ERROR',
      errorType: 'database connection failure',
      message: 'db down',
    };
    await engine.observe(fp, c);
    expect((await fallback.firing()).map((r) => r.fingerprint)).toEqual([fp]);
    const sent: Alert[] = [];
    await engine.relay(async (a) => void sent.push(a));
    expect(sent.map((a) => a.state)).toEqual(['firing']);
    reachable = true;
    await engine.observe(fp, null);
    await engine.relay(async (a) => void sent.push(a));
    expect(sent.map((a) => a.state)).toEqual(['firing', 'resolved']);
    expect(await fallback.get(fp)).toBeUndefined();
  });

  it('falls back only when the primary is away, starting from the state this process last saw there', async () => {
    const fallback = new RedisAlertStore(redis, `${prefix}:fb2`);
    let reachable = true;
    const engine = new AlertEngine({
      primary: new MysqlAlertStore(() => (reachable ? ds : undefined)),
      fallback,
      channel: 'queue',
      repeatHours: 4,
    });
    const fp = 'monitor:queues:fallback';
    const c: Condition = {
      fingerprint: fp,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'system error',
      message: 'no worker',
    };
    const sent: Alert[] = [];
    await engine.observe(fp, c);
    await engine.relay(async (a) => void sent.push(a));
    // MySQL goes away while the incident lasts: no second firing message from the fallback.
    reachable = false;
    await engine.observe(fp, c);
    await engine.relay(async (a) => void sent.push(a));
    expect(sent.map((a) => a.state)).toEqual(['firing']);
    // A refused statement is a bug, not an outage: it is not hidden in the fallback.
    reachable = true;
    const broken = new AlertEngine({
      primary: {
        ...new MysqlAlertStore(ds),
        transact: () => ds.query('SELECT FROM'),
      } as unknown as AlertStore,
      fallback,
      channel: 'queue',
      repeatHours: 4,
    });
    await expect(broken.observe(fp, c)).rejects.toMatchObject({ code: 'ER_PARSE_ERROR' });
  });

  it('a direct relay posts each message once, however many relays run at once; a failed post is tried again', async () => {
    const engines = [1, 2].map(
      () => new AlertEngine({ primary: new MysqlAlertStore(ds), channel: 'direct', repeatHours: 4 }),
    );
    const fp = 'watchdog:no-worker:test';
    await engines[0]!.observe(fp, {
      fingerprint: fp,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'system error',
      message: 'no worker',
    });
    await expect(engines[0]!.relay(async () => Promise.reject(new Error('Google Chat is down')))).rejects.toThrow();
    const posted: string[] = [];
    await Promise.all(engines.map((e) => e.relay(async (a) => void posted.push(a.fingerprint))));
    expect(posted.filter((f) => f === fp)).toHaveLength(1);
  });

  it('parses Alertmanager-style durations', () => {
    expect(parseDuration('2h')).toBe(2 * H);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1d')).toBe(24 * H);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
