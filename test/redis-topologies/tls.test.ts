import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli, spawnApp, type AppProcess } from '../support/processes.js';
import { contactProblems } from '../support/sim-data.js';
import { startTlsRedis, type TlsRedis } from '../support/topologies.js';
import { QUIET_SCHEDULES } from '../chaos/harness.js';

/**
 * Redis over TLS (README "Scaling out"): a redis-server that speaks only TLS, with a certificate of
 * a CA made by openssl for this test. A worker process and the CLI reach it with rediss:// and
 * REDIS_TLS_CA, and do real work; without the CA the CLI cannot, and a CA file that is not there
 * stops it with the variable named.
 */
describe('Redis over TLS (rediss:// + REDIS_TLS_CA)', () => {
  let tls: TlsRedis;
  let stack: TestStack;
  let worker: AppProcess | undefined;
  beforeAll(async () => {
    tls = await startTlsRedis();
    stack = await createStack('tlsredis', { REDIS_URL: tls.url, REDIS_TLS_CA: tls.caFile, ...QUIET_SCHEDULES });
    stack.sim.pipedrive.seed({ orgs: 40, customerRatio: 1 });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await tls?.close();
    await stack?.close();
  });

  it('a worker and the CLI sync through rediss:// with the CA, and manage status reads the queues', async () => {
    const t0 = Date.now();
    worker = spawnApp('worker', { ...stack.env, WORKER_QUEUES: 'sync,notifications' });
    await worker.waitFor('"worker ready"', 45_000);
    const sync = await runCli(['sync', '--full', '--wait', '--json'], stack.env, 60_000);
    expect(sync.code, sync.stderr).toBe(0);
    expect(contactProblems(stack.sim)).toEqual({ duplicates: [], missing: [], extra: [] });

    const status = await runCli(['status', '--json'], stack.env);
    expect(status.code, status.stderr).toBe(0);
    const doc = JSON.parse(status.stdout) as { prefix: string };
    expect(doc.prefix).toBe(stack.prefix);

    const alert = await runCli(['test-alerts', '--wait', '--json'], stack.env, 45_000);
    expect(alert.code, alert.stderr).toBe(0);
    expect(stack.sim.gchat.messages().some((m) => /Test notification/.test(m.fallbackText ?? ''))).toBe(true);
    console.log(`tls figures: worker start + sync of 40 orgs + status + test alert over TLS in ${Date.now() - t0} ms`);
  }, 120_000);

  it('without the CA the server certificate is not trusted: exit 3, naming Redis', async () => {
    const env = { ...stack.env, REDIS_TLS_CA: '' };
    const res = await runCli(['status', '--json'], env);
    expect(res.code).toBe(3);
    expect(res.stdout + res.stderr).toMatch(/cannot reach Redis at rediss:\/\/127\.0\.0\.1/);
  });

  it('a REDIS_TLS_CA that is not there stops the CLI with exit 2, naming the variable', async () => {
    const res = await runCli(['status'], { ...stack.env, REDIS_TLS_CA: '/nonexistent/ca.pem' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/REDIS_TLS_CA: cannot read \/nonexistent\/ca\.pem/);
  });
});
