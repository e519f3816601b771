import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../support/processes.js';
import { contactProblems, liveCustomers } from '../support/sim-data.js';
import { cli, startCluster, type TestCluster } from '../support/topologies.js';
import { QUIET_SCHEDULES } from '../chaos/harness.js';
import { waitFor } from '../support/index.js';
import { createRedis, scanKeys } from '../../packages/queues/src/index.js';

/**
 * A Redis Cluster of three masters of the test's own (README "Scaling out"). With
 * REDIS_CLUSTER_NODES a real worker process and the CLI run a full sync, a cleanup and a test
 * alert; every key they write carries the prefix's hash tag (`{prefix}`), so each lives in one slot
 * and BullMQ's multi-key scripts work.
 */
describe('Redis Cluster', () => {
  let cluster: TestCluster;
  let stack: TestStack;
  let worker: AppProcess | undefined;
  let dashboard: AppProcess | undefined;
  beforeAll(async () => {
    cluster = await startCluster();
    stack = await createStack('cluster', {
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: cluster.nodeList,
      BATCH_SIZE: '10',
      ...QUIET_SCHEDULES,
    });
    stack.sim.pipedrive.seed({ orgs: 60, customerRatio: 1 });
  });
  afterAll(async () => {
    await dashboard?.stop();
    await worker?.stop('SIGKILL');
    await cluster?.close();
    await stack?.close();
  });

  it('a full sync, a cleanup, a test alert and the dashboard work; every key is under {prefix}', async () => {
    const t0 = Date.now();
    worker = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync,cleanup,notifications' });
    await worker.waitFor('"worker ready"', 45_000);

    const sync = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 90_000);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });

    // Two customers stop being customers (under CLEANUP_MAX_PERCENT): the cleanup marks their contacts.
    const gone = liveCustomers(stack.sim)
      .slice(0, 2)
      .map((o) => o.id);
    for (const id of gone) stack.sim.pipedrive.setCustomerLabel(id, false);
    const cleanup = await runCli(['cleanup', '--wait', '--json'], stack.env, 90_000);
    expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
    for (const id of gone) {
      const c = stack.sim.chatwoot.listAllContacts().find((x) => x.identifier === `pipedrive:org:${id}`);
      expect(c?.custom_attributes.status).toBe('Former customer');
    }

    const alert = await runCli(['test-alerts', '--wait', '--json'], stack.env, 60_000);
    expect(alert.code, alert.stdout + alert.stderr).toBe(0);
    expect(stack.sim.gchat.messages().some((m) => /Test notification/.test(m.fallbackText ?? ''))).toBe(true);

    const status = await runCli(['status', '--json'], stack.env);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { prefix: string }).prefix).toBe(`{${stack.prefix}}`);

    // Every key is under the hash tag, none under the bare prefix, and so all in one slot.
    const tagged = await cluster.keys(`{${stack.prefix}}:*`);
    expect(tagged.length).toBeGreaterThan(10);
    expect(tagged.some((k) => k.startsWith(`{${stack.prefix}}:sync:`))).toBe(true);
    expect(tagged.some((k) => k.startsWith(`{${stack.prefix}}:metrics:`))).toBe(true);
    expect(await cluster.keys(`${stack.prefix}:*`)).toEqual([]);
    // scanKeys (the alert fallback's listing, the demo's reset) visits every master of the Cluster.
    const client = createRedis(stack.config().redis, 'producer');
    try {
      const scanned: string[] = [];
      for await (const keys of scanKeys(client, `${stack.config().redis.prefix}:*`)) scanned.push(...keys);
      // (not compared key for key: the running worker adds and expires its short-lived keys meanwhile)
      expect(scanned.length).toBeGreaterThan(10);
      expect(scanned.every((k) => k.startsWith(`{${stack.prefix}}:`))).toBe(true);
      expect(scanned).toEqual(
        expect.arrayContaining([`{${stack.prefix}}:metrics:api`, `{${stack.prefix}}:meta:installed`]),
      );
    } finally {
      client.disconnect();
    }
    const slots = new Set<string>();
    for (const k of tagged.slice(0, 20)) slots.add(await cli(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', k]));
    expect(slots.size).toBe(1);
    // The dashboard on the same Cluster: ready, its scrape reads the queues and the workers' counters.
    dashboard = spawnApp('dashboard', { ...stack.env, DASHBOARD_PORT: '0', DASHBOARD_AUTH: 'off' });
    const port = await waitFor(() => /"port":(\d+),"board"/.exec(dashboard!.output())?.[1], {
      timeoutMs: 45_000,
      what: 'the dashboard to listen',
    });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status, await ready.text()).toBe(200);
    const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(scrape).toMatch(/^pcs_up\{part="redis"\} 1$/m);
    expect(scrape).toMatch(/^pcs_api_requests_total\{[^}]*api="chatwoot"[^}]*\} [1-9]/m);
    const api = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { prefix?: string };
    expect(api.prefix).toBe(`{${stack.prefix}}`);
    console.log(
      `cluster figures: worker start, sync of 60 orgs, cleanup of 2, test alert, status, dashboard in ${Date.now() - t0} ms; ${tagged.length} keys, all in slot ${[...slots][0]}`,
    );
  }, 240_000);
});
