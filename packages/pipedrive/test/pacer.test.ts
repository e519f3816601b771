import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, SIM_DEFAULTS } from '@pcs/simulator';
import type { Simulator } from '@pcs/simulator';
import { BurstPacer, PipedriveClient } from '../src/index.js';

let sim: Simulator;

beforeAll(async () => {
  sim = createSimulator({ port: 0, seed: 7 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
  sim.pipedrive.seed({ orgs: 1_200, personsPerOrg: 2, customerRatio: 0.9, seed: 5 });
  sim.pipedrive.configure({ rateLimit: { enabled: true, burstLimit: 5, windowMs: 2_000 } });
  sim.pipedrive.setFaults({ latencyMs: 20 });
});

const client = (pace?: boolean): PipedriveClient =>
  new PipedriveClient({
    baseUrl: sim.pipedriveBaseUrl,
    apiKey: SIM_DEFAULTS.pipedriveToken,
    ...(pace === undefined ? {} : { pace }),
  });

async function count(gen: AsyncGenerator<unknown[]>): Promise<number> {
  let n = 0;
  for await (const page of gen) n += page.length;
  return n;
}

describe('burst pacing (x-ratelimit-limit per rolling 2 s)', () => {
  it('two listings and single requests at once stay within the burst limit: no 429, nothing lost', async () => {
    const pd = client();
    const started = Date.now();
    const [orgs, persons, ...one] = await Promise.all([
      count(pd.organizationPages({})),
      count(pd.personPages({})),
      ...Array.from({ length: 4 }, () => pd.getOrganization(sim.pipedrive.listOrgs()[0]!.id)),
    ]);
    const took = Date.now() - started;
    const st = sim.stats().byApi.pipedrive;
    expect(orgs).toBe(sim.pipedrive.listOrgs().filter((o) => !o.is_deleted).length);
    expect(persons).toBeGreaterThan(2_000);
    expect(one.every((o) => o !== null)).toBe(true);
    // 3 organization pages + 5 person pages + 4 single reads = 12 requests, 5 per 2 s.
    expect(st.byStatus['429']).toBeUndefined();
    expect(st.requests).toBe(12);
    expect(took).toBeGreaterThanOrEqual(4_000);
    expect(pd.counters.total).toBe(12);
  });

  it('without pacing the same requests run into the limit (the simulator is strict), and are retried', async () => {
    const pd = client(false);
    await Promise.all(Array.from({ length: 8 }, () => pd.listOrganizations({ limit: 1 })));
    expect(sim.stats().byApi.pipedrive.byStatus['429']).toBeGreaterThan(0);
  });
});

describe('BurstPacer', () => {
  it('one request at a time until an answer tells the limit; then the limit per window, a slot held a window after its answer', async () => {
    const pacer = new BurstPacer(200);
    await pacer.acquire();
    let second = false;
    const p2 = pacer.acquire().then(() => (second = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBe(false);
    pacer.release('3');
    await p2;
    expect(pacer.learnedLimit).toBe(3);
    // 1 answered + 1 in flight: one more slot, then full until the first answer leaves the window.
    await pacer.acquire();
    const t0 = Date.now();
    let fourth = 0;
    const p4 = pacer.acquire().then(() => (fourth = Date.now()));
    pacer.release('3');
    pacer.release('3');
    await p4;
    expect(fourth - t0).toBeGreaterThanOrEqual(150);
  });

  it('answers without x-ratelimit-limit leave the requests unpaced', async () => {
    const pacer = new BurstPacer(10_000);
    await pacer.acquire();
    pacer.release(undefined);
    expect(pacer.learnedLimit).toBe(Number.POSITIVE_INFINITY);
    await Promise.all(Array.from({ length: 50 }, () => pacer.acquire()));
  });

  it('a request that got no answer teaches nothing and frees its slot when nothing is known yet', async () => {
    const pacer = new BurstPacer(10_000);
    await pacer.acquire();
    pacer.release(undefined, false);
    expect(pacer.learnedLimit).toBeUndefined();
    await pacer.acquire();
  });
});
