import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DataSource } from '@pcs/db';
import { evaluate, parseDuration, silence, unsilence, type Condition } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/index.js';

const H = 3_600_000;
const t0 = new Date('2026-11-27T10:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * H);
const opts = (hours: number) => ({ now: at(hours), repeatHours: 4 });
const apiDown: Condition = {
  fingerprint: 'monitor:pipedrive-api:auth',
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
  inhibitedBy: ['monitor:pipedrive-api:auth'],
};

describe('alert rules (state per fingerprint, on a fake clock)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  beforeAll(async () => {
    db = await createTestDatabase('rules');
    ds = (await openDatabase(db.config)).ds;
  });
  afterAll(async () => {
    await ds.destroy();
    await db.drop();
  });

  it('fires once, repeats no sooner than ALERT_REPEAT_HOURS, resolves once in the same thread', async () => {
    const first = await evaluate(ds, apiDown.fingerprint, apiDown, opts(0));
    expect(first.notify).toHaveLength(1);
    expect(first.notify[0]).toMatchObject({
      state: 'firing',
      level: 'ERROR',
      error_type: 'auth issue',
      fingerprint: apiDown.fingerprint,
    });
    expect(first.notify[0]!.timestamp).toBe('2026-11-27 10:00:00 UTC');
    for (const h of [0.5, 1, 2, 3.9])
      expect((await evaluate(ds, apiDown.fingerprint, apiDown, opts(h))).notify).toEqual([]);
    const repeat = await evaluate(ds, apiDown.fingerprint, apiDown, opts(4));
    expect(repeat.notify).toHaveLength(1);
    expect(repeat.notify[0]!.details).toMatchObject({ repeat: true, firing_since: '2026-11-27 10:00:00 UTC' });
    const resolved = await evaluate(ds, apiDown.fingerprint, null, opts(5));
    expect(resolved.notify).toHaveLength(1);
    expect(resolved.notify[0]).toMatchObject({ state: 'resolved', fingerprint: apiDown.fingerprint });
    expect(resolved.notify[0]!.message).toMatch(/^Resolved: /);
    expect((await evaluate(ds, apiDown.fingerprint, null, opts(6))).notify).toEqual([]);
  });

  it('a condition caused by an API being down does not alert while that API alert fires', async () => {
    await evaluate(ds, apiDown.fingerprint, apiDown, opts(10));
    const quiet = await evaluate(ds, stale.fingerprint, stale, opts(10.5));
    expect(quiet).toMatchObject({ notify: [], quiet: 'inhibited', state: 'firing' });
    await evaluate(ds, apiDown.fingerprint, null, opts(11));
    // The API is back but the records are still stale: now it is news.
    const news = await evaluate(ds, stale.fingerprint, stale, opts(11.5));
    expect(news.notify).toHaveLength(1);
    await evaluate(ds, stale.fingerprint, null, opts(12));
  });

  it('silences like Alertmanager: nothing while silenced, nothing resolved that was never told', async () => {
    const fp = 'monitor:chatwoot-api:down';
    const c: Condition = {
      fingerprint: fp,
      script: 'monitor',
      level: 'ERROR',
      errorType: 'API failure',
      message: 'Chatwoot unreachable',
    };
    await silence(ds, fp, at(22));
    expect(await evaluate(ds, fp, c, opts(20))).toMatchObject({ notify: [], quiet: 'silenced' });
    expect((await evaluate(ds, fp, null, opts(21))).notify).toEqual([]);
    // after the silence ends, a new firing is told
    expect((await evaluate(ds, fp, c, opts(23))).notify).toHaveLength(1);
    await silence(ds, fp, at(48));
    expect((await evaluate(ds, fp, c, opts(28))).notify).toEqual([]);
    expect(await unsilence(ds, fp)).toBe(true);
    expect((await evaluate(ds, fp, c, opts(28.5))).notify).toHaveLength(1);
  });

  it('parses Alertmanager-style durations', () => {
    expect(parseDuration('2h')).toBe(2 * H);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1d')).toBe(24 * H);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
