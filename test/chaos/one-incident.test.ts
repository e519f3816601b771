import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.js';
import { createStack, type TestStack } from '../support/stack.js';
import { runCli } from '../support/processes.js';
import { waitFor } from '../support/index.js';
import { QUIET_SCHEDULES, incident, sleep } from './harness.js';

/**
 * One incident is one firing and one resolved message, however many see it at once: three
 * `manage monitor` and a failing sync, on two workers, all meeting a revoked Pipedrive token.
 */
describe('chaos: one incident, many observers', () => {
  let stack: TestStack;
  let workers: RunningWorker[] = [];
  const FP = 'monitor:pipedrive-api';
  beforeAll(async () => {
    stack = await createStack('incident', QUIET_SCHEDULES);
    stack.sim.pipedrive.seed({ orgs: 20, customerRatio: 1 });
    workers = await Promise.all([1, 2].map(() => startWorker(stack.config(), { console: false })));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('test')));
    await stack?.close();
  });

  const pipedriveCheck = (stdout: string) =>
    (JSON.parse(stdout) as { checks: { check: string; status: string }[] }).checks.find(
      (c) => c.check === 'pipedrive-api',
    )?.status;

  /** Three health check runs and a sync, all at once, as an operator and the schedule might start them. */
  const everyoneLooks = () =>
    Promise.all([
      runCli(['monitor', '--json'], stack.env, 120_000),
      runCli(['monitor', '--json'], stack.env, 120_000),
      runCli(['monitor', '--json'], stack.env, 120_000),
      runCli(['sync', '--wait', '--json'], stack.env, 120_000),
    ]);

  it('a revoked token: exactly one firing message; the token back: exactly one resolved, in the same thread (two rounds)', async () => {
    const figures: string[] = [];
    for (const round of [1, 2]) {
      stack.sim.pipedrive.setFaults({ badToken: true });
      const down = await everyoneLooks();
      expect(down.map((r) => r.code)).toEqual([1, 1, 1, 1]);
      for (const m of down.slice(0, 3)) expect(pipedriveCheck(m.stdout)).toBe('critical');
      const firing = round === 1 ? ['firing'] : ['firing', 'resolved', 'firing'];
      await waitFor(() => incident(stack, FP).length >= firing.length || undefined, {
        timeoutMs: 30_000,
        what: `round ${round}: the firing message`,
      });
      await sleep(3_000); // a duplicate would arrive by now
      expect(incident(stack, FP)).toEqual(firing);

      stack.sim.pipedrive.clearFaults();
      const up = await everyoneLooks();
      // The sync succeeds; the checks see Pipedrive fine (others may still say the first sync is under way).
      expect(up[3]!.code, up[3]!.stderr).toBe(0);
      for (const m of up.slice(0, 3)) expect(pipedriveCheck(m.stdout)).toBe('ok');
      const resolved = [...firing, 'resolved'];
      await waitFor(() => incident(stack, FP).length >= resolved.length || undefined, {
        timeoutMs: 30_000,
        what: `round ${round}: the resolved message`,
      });
      await sleep(3_000);
      expect(incident(stack, FP)).toEqual(resolved);
      figures.push(`round ${round}: ${incident(stack, FP).length} messages so far`);
    }
    // One thread for the incident, and no other alert was sent along the way.
    const msgs = stack.sim.gchat.messages();
    expect(new Set(msgs.filter((m) => m.threadKey === FP).map((m) => m.thread)).size).toBe(1);
    expect(msgs.filter((m) => m.threadKey !== FP).map((m) => m.fallbackText)).toEqual([]);
    console.log(`one-incident figures: ${figures.join('; ')}`);
  }, 300_000);
});
