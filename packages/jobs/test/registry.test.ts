import { describe, expect, it } from 'vitest';
import { parseConfig } from '@pcs/config';
import { cappedExponentialDelay, InvalidPayloadError, parsePayload, schedulerId } from '@pcs/queues';
import {
  alertJob,
  checkJobs,
  findJobDefinition,
  JOB_DEFINITIONS,
  MONITOR_CHECKS,
  pruneHistoryJob,
  syncBatchJob,
  syncRunJob,
  wantedSchedules,
} from '../src/index.js';

describe('job registry', () => {
  it('has one definition per queue/name, each monitor check its own job', () => {
    const keys = JOB_DEFINITIONS.map((d) => `${d.queue}/${d.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.values(checkJobs).map((d) => d.name)).toEqual([...MONITOR_CHECKS]);
    expect(Object.values(checkJobs).every((d) => d.queue === 'monitor')).toBe(true);
    expect(findJobDefinition('notifications', 'alert')).toBe(alertJob);
    expect(findJobDefinition('sync', 'alert')).toBeUndefined();
  });

  it('derives schedules from config: interval by default, cron when set', () => {
    const interval = syncRunJob.schedule!(parseConfig({ SYNC_INTERVAL_MINUTES: '15' }));
    expect(interval).toMatchObject({ every: 15 * 60_000, data: { mode: 'incremental', trigger: 'schedule' } });
    const cron = syncRunJob.schedule!(parseConfig({ SYNC_CRON: '0 * * * *', SCHEDULE_TZ: 'Europe/Oslo' }));
    expect(cron).toMatchObject({ pattern: '0 * * * *', tz: 'Europe/Oslo' });
    expect(schedulerId(syncRunJob)).toBe('schedule:sync-run');
    expect(syncBatchJob.schedule).toBeUndefined();
  });

  it('lists the schedulers a worker of some queues must keep', () => {
    const wanted = wantedSchedules(parseConfig({ MONITOR_CRON: '*/5 * * * *' }), ['sync', 'monitor']);
    expect(wanted.map((w) => w.id).sort()).toEqual(
      ['sync-run', 'pipedrive-api', 'chatwoot-api', 'sync-status', 'consistency', 'freshness', 'queues']
        .map((name) => `schedule:${name}`)
        .sort(),
    );
    expect(wanted.find((w) => w.id === 'schedule:freshness')!.repeat).toEqual({ pattern: '*/5 * * * *', tz: 'UTC' });
    expect(wanted.find((w) => w.id === 'schedule:sync-run')!.repeat).toEqual({ every: 60 * 60_000 });
  });

  it('prunes history daily at 03:30 in SCHEDULE_TZ, on the cleanup queue next to the cleanup runs', () => {
    const wanted = wantedSchedules(parseConfig({ SCHEDULE_TZ: 'Europe/Oslo' }), ['cleanup']);
    expect(wanted.map((w) => w.id).sort()).toEqual(['schedule:cleanup-run', 'schedule:prune-history']);
    const prune = wanted.find((w) => w.id === 'schedule:prune-history')!;
    expect(prune).toMatchObject({
      queue: 'cleanup',
      name: 'prune-history',
      data: { trigger: 'schedule', chunkSize: 2000 },
    });
    expect(prune.repeat).toEqual({ pattern: '30 3 * * *', tz: 'Europe/Oslo' });
    expect(() => parsePayload(pruneHistoryJob, { chunkSize: 0 })).toThrow(/chunkSize/);
  });

  it('validates payloads and names every problem', () => {
    expect(parsePayload(syncRunJob, {})).toEqual({ mode: 'incremental', trigger: 'schedule' });
    try {
      parsePayload(syncBatchJob, { runId: 'nope', batch: -1, orgIds: [] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidPayloadError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/runId/);
      expect(msg).toMatch(/batch/);
      expect(msg).toMatch(/orgIds/);
    }
  });

  it('accepts the alert JSON of the original deployment plus grouping fields', () => {
    const alert = parsePayload(alertJob, {
      timestamp: '2024-01-15 10:30:00 UTC',
      script: 'monitor',
      level: 'ERROR',
      error_type: 'auth issue',
      message: 'Pipedrive rejected the API token',
      details: { api: 'Pipedrive' },
      fingerprint: 'monitor:pipedrive-api:auth',
    });
    expect(alert.state).toBe('firing');
    expect(() => parsePayload(alertJob, { ...alert, level: 'CRITICAL' })).toThrow(/level/);
  });

  it('backs off deliveries exponentially with jitter, first retry within 10 s, never over 64 s', () => {
    const lo = () => 0;
    const hi = () => 0.9999;
    expect(cappedExponentialDelay(1, 2_000, 64_000, hi)).toBeLessThanOrEqual(10_000);
    expect(cappedExponentialDelay(1, 2_000, 64_000, lo)).toBe(1_500);
    expect(cappedExponentialDelay(3, 2_000, 64_000, lo)).toBe(6_000);
    for (let n = 1; n < 80; n++) expect(cappedExponentialDelay(n, 2_000, 64_000, hi)).toBeLessThanOrEqual(64_000);
    // ~60 attempts at up to 64 s cover an hour.
    let total = 0;
    for (let n = 1; n < alertJob.attempts; n++) total += cappedExponentialDelay(n, 2_000, 64_000, () => 0.5);
    expect(total).toBeGreaterThan(3_600_000 * 0.9);
  });
});
