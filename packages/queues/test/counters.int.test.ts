import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  createRedis,
  JOB_DURATION_BUCKETS,
  MetricsRecorder,
  readMetricCounters,
  type RedisClient,
} from '../src/index.js';
import { dropPrefix, REDIS_URL, uniqueName } from '../../../test/support/index.js';
import { freePort } from '../../../apps/demo/src/settings.js';

/** The Redis-side counters of pcs_api_requests_total and pcs_job_duration_seconds (docs/contract.md §4). */
describe('metrics counters in Redis', () => {
  const prefixes: string[] = [];
  const conns: RedisClient[] = [];
  const redis = () => {
    const r = new Redis(REDIS_URL);
    conns.push(r);
    return r;
  };
  const prefix = () => {
    const p = uniqueName('counters');
    prefixes.push(p);
    return p;
  };
  afterAll(async () => {
    for (const c of conns) c.disconnect();
    await Promise.all(prefixes.map(dropPrefix));
  });

  it('two processes add up: API answers by status, job durations as cumulative buckets, sum and count', async () => {
    const p = prefix();
    const a = new MetricsRecorder(redis(), p, { flushMs: 60_000 });
    const b = new MetricsRecorder(redis(), p, { flushMs: 60_000 });
    a.apiResponse('pipedrive', 200);
    a.apiResponse('pipedrive', 200);
    b.apiResponse('pipedrive', 429);
    b.apiResponse('chatwoot', 'error');
    a.jobDuration('sync', 'sync-run', 0.05);
    b.jobDuration('sync', 'sync-run', 2);
    b.jobDuration('sync', 'sync-batch', 1000);
    await Promise.all([a.close(), b.close()]);

    const read = await readMetricCounters(redis(), p);
    expect(read.api.sort((x, y) => `${x.api}${x.status}`.localeCompare(`${y.api}${y.status}`))).toEqual([
      { api: 'chatwoot', status: 'error', value: 1 },
      { api: 'pipedrive', status: '200', value: 2 },
      { api: 'pipedrive', status: '429', value: 1 },
    ]);
    const run = read.jobs.find((j) => j.name === 'sync-run')!;
    expect(run).toMatchObject({ queue: 'sync', count: 2 });
    expect(run.sum).toBeCloseTo(2.05);
    const le = Object.fromEntries(run.buckets.map((x) => [x.le, x.value]));
    expect(run.buckets.map((x) => x.le)).toEqual([...JOB_DURATION_BUCKETS.map(String), '+Inf']);
    expect(le).toMatchObject({ '0.1': 1, '0.5': 1, '1': 1, '5': 2, '900': 2, '+Inf': 2 });
    const batch = read.jobs.find((j) => j.name === 'sync-batch')!;
    expect(batch.buckets.map((x) => x.value)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(batch.count).toBe(1);

    // Another stack's prefix on the same Redis sees none of it.
    expect(await readMetricCounters(redis(), prefix())).toEqual({ api: [], jobs: [] });
  });

  it('counting goes on while Redis is away: nothing throws, a flush ends, the next counts still arrive', async () => {
    const port = await freePort();
    const away = createRedis(`redis://127.0.0.1:${port}`, 'producer', { retryStrategy: () => 200 });
    away.on('error', () => undefined);
    conns.push(away);
    const errors: unknown[] = [];
    const gone = new MetricsRecorder(away, prefix(), { flushMs: 60_000, onError: (e) => errors.push(e) });
    gone.apiResponse('pipedrive', 200);
    gone.jobDuration('sync', 'sync-run', 1);
    await gone.flush();
    expect(errors.length).toBe(1);
    await gone.close(200);

    // The periodic flush of a live recorder.
    const p = prefix();
    const live = new MetricsRecorder(redis(), p, { flushMs: 50 });
    live.apiResponse('google_chat', 200);
    const reader = redis();
    const read = await new Promise<Awaited<ReturnType<typeof readMetricCounters>>>((resolve) => {
      const poll = setInterval(() => {
        void readMetricCounters(reader, p).then((r) => {
          if (r.api.length) {
            clearInterval(poll);
            resolve(r);
          }
        });
      }, 50);
    });
    await live.close();
    expect(read.api).toEqual([{ api: 'google_chat', status: '200', value: 1 }]);
  });
});
