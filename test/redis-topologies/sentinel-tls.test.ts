import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { startSentinelSet, type SentinelSet } from '../support/topologies.js';
import { waitFor } from '../support/index.js';
import { QUIET_SCHEDULES } from '../chaos/harness.js';

/**
 * Sentinel and TLS together (README "Redis beyond one server"): the master, its replica and the
 * Sentinel listen on TLS only, with a CA made here. `rediss://` + REDIS_TLS_CA take the worker and
 * the CLI to the Sentinel and to the master over TLS; after a failover they reach the new master.
 */
describe('Redis Sentinel over TLS', () => {
  let set: SentinelSet;
  let stack: TestStack;
  let worker: AppProcess | undefined;
  beforeAll(async () => {
    set = await startSentinelSet({}, { tls: true });
    stack = await createStack('sentineltls', {
      REDIS_URL: 'rediss://127.0.0.1:1',
      REDIS_TLS_CA: set.caFile!,
      REDIS_SENTINELS: set.sentinels,
      ...QUIET_SCHEDULES,
    });
    stack.sim.pipedrive.seed({ orgs: 20, customerRatio: 1 });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await set?.close();
    await stack?.close();
  });

  it('a sync, then a failover, then a test alert: all over TLS', async () => {
    worker = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync,notifications' });
    await worker.waitFor('"worker ready"', 45_000);
    const sync = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 60_000);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });

    expect(await set.sentinelCli(['SENTINEL', 'FAILOVER', set.name])).toBe('OK');
    await waitFor(async () => (await set.masterPort()) === set.replica.port || undefined, {
      timeoutMs: 30_000,
      what: 'the Sentinel to name the replica as master',
    });
    const alert = await runCli(['test-alerts', '--wait', '--json'], stack.env, 60_000);
    expect(alert.code, alert.stdout + alert.stderr).toBe(0);
    expect(stack.sim.gchat.messages().some((m) => /Test notification/.test(m.fallbackText ?? ''))).toBe(true);
  }, 180_000);
});
