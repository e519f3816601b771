import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { cli, startSentinelSet, type SentinelSet } from '../support/topologies.js';
import { waitFor } from '../support/index.js';
import { QUIET_SCHEDULES, runWhere, since } from '../chaos/harness.js';

/**
 * Redis behind Sentinel (README "Scaling out", docs/contract.md §6a): a master, its replica and a
 * Sentinel of the test's own. A real worker process and the CLI find the master through the
 * Sentinel (REDIS_URL points nowhere: its host is not used). `SENTINEL FAILOVER` in the middle of a
 * run: the run completes with every contact right and none twice, and a test alert sent after the
 * failover reaches Google Chat within 60 s of it.
 */
describe('Redis Sentinel: a failover mid-run', () => {
  let set: SentinelSet;
  let stack: TestStack;
  let worker: AppProcess | undefined;
  beforeAll(async () => {
    // Both passwords, as a production Sentinel setup has them: the master's in REDIS_URL, the Sentinels' apart.
    set = await startSentinelSet({ data: 'data-secret-1234', sentinel: 'sentinel-secret-1234' });
    stack = await createStack('sentinel', {
      // Only the credentials/db/TLS of REDIS_URL apply under Sentinel: its host must not be used.
      REDIS_URL: 'redis://:data-secret-1234@127.0.0.1:1/0',
      REDIS_SENTINELS: set.sentinels,
      REDIS_SENTINEL_NAME: set.name,
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret-1234',
      BATCH_SIZE: '10',
      ...QUIET_SCHEDULES,
    });
    stack.sim.pipedrive.seed({ orgs: 150, customerRatio: 1 });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await set?.close();
    await stack?.close();
  });

  it('the run completes on the promoted replica, nothing duplicated, and an alert is delivered within 60 s', async () => {
    worker = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync,notifications' });
    await worker.waitFor('"worker ready"', 45_000);
    // Slow enough that the failover lands in the middle of the run.
    stack.sim.chatwoot.setFaults({ latencyMs: 40 });
    const queued = await runCli(['sync', '--full', '--json'], stack.env);
    expect(queued.code, queued.stderr).toBe(0);
    const { runId } = JSON.parse(queued.stdout) as { runId: string };
    const before = await runWhere(stack, runId, (r) => r.batchesDone >= 2, 60_000, 'two batches');
    expect(before.status).toBe('running');

    const failoverAt = Date.now();
    expect(await set.sentinelCli(['SENTINEL', 'FAILOVER', set.name])).toBe('OK');
    await waitFor(async () => (await set.masterPort()) === set.replica.port || undefined, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'the Sentinel to name the replica as master',
    });
    const promotedAfter = since(failoverAt);
    stack.sim.chatwoot.setFaults({ latencyMs: 0 });

    // An operator's test alert right after the switch: it goes through the Sentinel to the new master.
    const alert = await runCli(['test-alerts', '--wait', '--json'], stack.env, 60_000);
    expect(alert.code, alert.stdout + alert.stderr).toBe(0);
    const delivered = await waitFor(
      () => stack.sim.gchat.messages().find((m) => /Test notification/.test(m.fallbackText ?? '')),
      { timeoutMs: 60_000, what: 'the test alert in Google Chat' },
    );
    const deliveredAfter = since(failoverAt);
    expect(delivered).toBeDefined();
    expect(deliveredAfter).toBeLessThan(60);

    const run = await runWhere(stack, runId, (r) => r.status !== 'running', 120_000, 'the run to end');
    expect(['succeeded', 'partial']).toContain(run.status);
    expect(run.failed).toBe(0);
    expect(run.processed).toBe(150);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });
    // The data is on the promoted master (the old one is its replica now).
    expect(await cli(set.replica.port, ['ROLE'], { password: 'data-secret-1234' })).toMatch(/^master/);
    // No password in the worker's output (its logs are JSON lines on stdout too).
    expect(worker.output()).not.toMatch(/data-secret-1234|sentinel-secret-1234/);
    console.log(
      `sentinel figures: replica promoted ${promotedAfter} s after SENTINEL FAILOVER; test alert in Google Chat ${deliveredAfter} s after it; run ${run.status} ${since(failoverAt)} s after it, ${run.processed} processed, 0 failed, no duplicate contact`,
    );
  }, 240_000);
});
