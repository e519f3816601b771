/**
 * `pnpm bench`: sync benchmarks against the simulator with latency and rate limits on.
 *
 *   pnpm bench                               10k orgs, scenarios a-d
 *   pnpm bench -- --orgs 10000,100000        also 100k (long: the Chatwoot write limit sets the pace)
 *   pnpm bench -- --scenarios a,b,c --workers 1,2,4 --latency 30 --chatwoot-per-minute 3000
 *   pnpm bench -- --orgs 100000 --scenarios b --seed     (b) without first running (a) (see --seed)
 *   pnpm bench -- --orgs 100000 --scenarios b --repeat 3 --worker dist
 *
 * --seed: (b) and (c) start from a state written directly instead of after a first sync (a): the
 * database's mirror (persons and organizations, listed from the simulator without its latency or
 * limits, through the sync's own upserts), one Chatwoot contact per customer in the simulator, and
 * each customer's contact id, content hash and state as the first sync stores them (the hash of
 * the sync's own buildContact). (a) is not run; (c) follows a (b), run unrecorded if not asked for.
 * --repeat N: (b) N times in a row (each its own row). --worker tsx|dist: the worker script's
 * sources through tsx (PCS_RUN=src, the default) or the compiled apps/worker/dist/main.js, both
 * with the worker script's node flags (--max-old-space-size=128 --max-semi-space-size=2); WORKER_NODE_OPTIONS adds node flags to either (as NODE_OPTIONS), WORKER_NODE_ARGS
 * to dist's command line (flags NODE_OPTIONS refuses, e.g. --cpu-prof).
 *
 * Scenarios: (a) first full sync; (b) a full re-sync with no change; (c) an incremental sync with
 * 1% changed; (d) the first sync with 1, 2 and 4 worker processes where no rate limit binds.
 * Writes a JSON report to bench/results/ and prints a table. Measures, asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { openDatabase, RunEntity, type DataSource, type Run } from '../packages/db/src/index.js';
import { syncRunJob } from '../packages/jobs/src/index.js';
import { ChatwootClient } from '../packages/chatwoot/src/index.js';
import { PipedriveClient, resolveCustomerLabel, resolveFieldKey } from '../packages/pipedrive/src/index.js';
import {
  buildContact,
  ensureDefinitions,
  ensureTarget,
  loadOrganizations,
  loadPersonsByOrg,
  pipedriveWebOrigin,
  upsertOrganizations,
  upsertPersons,
} from '../packages/sync/src/index.js';
import { createSimulator, SIM_DEFAULTS, type Simulator } from '@pcs/simulator';
import {
  createTestDatabase,
  dropPrefix,
  REDIS_URL,
  tempDir,
  testConfig,
  testEnv,
  uniqueName,
} from '../test/support/index.js';
import { spawnApp, spawnNodeApp, type AppProcess } from '../test/support/processes.js';
import { scriptArgs } from '../apps/demo/src/processes.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    orgs: { type: 'string', default: '10000' },
    scenarios: { type: 'string', default: 'a,b,c,d' },
    workers: { type: 'string', default: '1,2,4' },
    latency: { type: 'string', default: '30' },
    'chatwoot-per-minute': { type: 'string', default: '3000' },
    'pipedrive-burst': { type: 'string', default: '40' },
    'persons-per-org': { type: 'string', default: '3' },
    seed: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    worker: { type: 'string', default: 'tsx' },
  },
});
const sizes = values.orgs.split(',').map(Number);
const scenarios = new Set(values.scenarios.split(','));
const workerCounts = values.workers.split(',').map(Number);
const latencyMs = Number(values.latency);
const chatwootPerMinute = Number(values['chatwoot-per-minute']);
const pipedriveBurst = Number(values['pipedrive-burst']);
const seedState = values.seed;
const repeat = Math.max(1, Number(values.repeat));
if (!['tsx', 'dist'].includes(values.worker)) throw new Error('--worker must be tsx or dist');
const DIST_ENTRY = join(REPO_ROOT, 'apps/worker/dist/main.js');
if (values.worker === 'dist' && !existsSync(DIST_ENTRY))
  throw new Error(`--worker dist: ${DIST_ENTRY} does not exist (pnpm build)`);

interface Measure {
  scenario: string;
  orgs: number;
  customers: number;
  workers: number;
  rateLimits: boolean;
  wallSeconds: number;
  /** From enqueueing to the listing's end (every Pipedrive request done, every batch queued). */
  listingSeconds: number | null;
  runStatus: string;
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  pipedriveRequests: number;
  pipedriveOrgRequests: number;
  pipedrivePersonRequests: number;
  chatwootRequests: number;
  chatwootWrites: number;
  requestsPerOrg: number;
  chatwootLimitSeconds: number | null;
  peakRssMb: number[];
}

const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : -1;
  } catch {
    return -1;
  }
}

function requestCounts(sim: Simulator) {
  const st = sim.stats();
  const pd = st.byApi.pipedrive.byRoute;
  const cw = st.byApi.chatwoot.byRoute;
  const sum = (o: Record<string, number>, f: (k: string) => boolean) =>
    Object.entries(o)
      .filter(([k]) => f(k))
      .reduce((n, [, v]) => n + v, 0);
  return {
    pipedriveRequests: st.byApi.pipedrive.requests,
    pipedriveOrgRequests: sum(pd, (k) => k.includes('/organizations') && !k.includes('organizationFields')),
    pipedrivePersonRequests: sum(pd, (k) => k.includes('/persons')),
    chatwootRequests: st.byApi.chatwoot.requests,
    chatwootWrites: sum(cw, (k) => /^(POST|PUT|PATCH|DELETE) /.test(k) && !k.endsWith('/contacts/filter')),
  };
}

class Bench {
  sim = createSimulator({ seed: 11 });
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  results: Measure[] = [];

  async env(label: string) {
    const db = await createTestDatabase(label);
    const prefix = uniqueName(label);
    const env = testEnv({
      prefix,
      database: db.config.database,
      logDir: tempDir(`bench-${label}`),
      extra: {
        PIPEDRIVE_BASE_URL: this.sim.pipedriveBaseUrl,
        PIPEDRIVE_API_KEY: SIM_DEFAULTS.pipedriveToken,
        CHATWOOT_BASE_URL: `${this.sim.chatwootBaseUrl}/api/v1/accounts/2`,
        CHATWOOT_API_KEY: SIM_DEFAULTS.chatwootAdminToken,
        DEFAULT_COUNTRY_CODE: '+61',
        WORKER_QUEUES: 'sync',
        SYNC_CRON: '0 0 1 1 *',
        LOG_LEVEL: 'warn',
      },
    });
    const { ds } = await openDatabase(db.config, { poolSize: 2 });
    return { db, prefix, env, ds };
  }

  async workers(n: number, env: Record<string, string>): Promise<AppProcess[]> {
    // The same command as `pnpm run worker` (heap limit included); WORKER_NODE_OPTIONS adds flags.
    const nodeOptions: Record<string, string> = process.env.WORKER_NODE_OPTIONS
      ? { NODE_OPTIONS: process.env.WORKER_NODE_OPTIONS }
      : {};
    const wenv = { ...env, LOG_LEVEL: 'info', ...nodeOptions };
    // dist: the compiled bundle with the node flags of the worker script (as the image runs it);
    // tsx: the same script forced onto the sources (PCS_RUN=src), as before the compiled build.
    const flags = scriptArgs('worker').filter((a) => a.startsWith('--'));
    const ps = Array.from({ length: n }, () =>
      values.worker === 'dist'
        ? spawnNodeApp(
            'worker',
            [...flags, ...(process.env.WORKER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []), DIST_ENTRY],
            wenv,
          )
        : spawnApp('worker', { ...wenv, PCS_RUN: 'src' }),
    );
    await Promise.all(ps.map((p) => p.waitFor('"worker ready"', 60_000)));
    return ps;
  }

  async run(
    env: Record<string, string>,
    prefix: string,
    ds: DataSource,
    mode: 'full' | 'incremental',
  ): Promise<{ run: Run; seconds: number; listingSeconds: number | null }> {
    const q = new Queue('sync', { connection: this.redis, prefix });
    const runId = randomUUID();
    const started = Date.now();
    await q.add(syncRunJob.name, { mode, trigger: 'test', runId }, { attempts: 1 });
    await q.close();
    // When the listing completed (seen within the 250 ms of polling): the rest is the batches' tail.
    let listingSeconds: number | null = null;
    for (;;) {
      const run = await ds.getRepository(RunEntity).findOneBy({ id: runId });
      if (run?.listingComplete && listingSeconds === null) listingSeconds = (Date.now() - started) / 1000;
      if (run && run.status !== 'running') return { run, seconds: (Date.now() - started) / 1000, listingSeconds };
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  record(
    scenario: string,
    orgs: number,
    customers: number,
    workers: AppProcess[],
    rateLimits: boolean,
    r: { run: Run; seconds: number; listingSeconds: number | null },
  ) {
    const counts = requestCounts(this.sim);
    const m: Measure = {
      scenario,
      orgs,
      customers,
      workers: workers.length,
      rateLimits,
      wallSeconds: Math.round(r.seconds * 10) / 10,
      listingSeconds: r.listingSeconds === null ? null : Math.round(r.listingSeconds * 10) / 10,
      runStatus: r.run.status,
      processed: r.run.processed,
      created: r.run.created,
      updated: r.run.updated,
      unchanged: r.run.unchanged,
      failed: r.run.failed,
      ...counts,
      requestsPerOrg: Math.round(((counts.pipedriveRequests + counts.chatwootRequests) / orgs) * 1000) / 1000,
      chatwootLimitSeconds: rateLimits
        ? Math.round((counts.chatwootRequests / chatwootPerMinute) * 60 * 10) / 10
        : null,
      peakRssMb: workers.map((w) => peakRssMb(w.child.pid!)),
    };
    this.results.push(m);
    log(scenario, JSON.stringify(m));
  }

  limits(on: boolean) {
    this.sim.pipedrive.configure({ rateLimit: { enabled: on, burstLimit: pipedriveBurst, windowMs: 2000 } });
    this.sim.pipedrive.setFaults({ latencyMs });
    this.sim.chatwoot.setFaults({ latencyMs, perMinuteLimit: on ? chatwootPerMinute : null });
  }

  seed(n: number): number {
    this.sim.reset();
    this.sim.pipedrive.seed({ orgs: n, personsPerOrg: Number(values['persons-per-org']), customerRatio: 0.9, seed: n });
    return this.sim.pipedrive
      .listOrgs()
      .filter((o) => !o.is_deleted && o.label_ids.includes(SIM_DEFAULTS.pipedriveCustomerLabelId)).length;
  }

  /**
   * --seed: the state a first full sync leaves, written directly (see the header). The mirror goes
   * through the sync's own upserts from a listing of the simulator (its limits and latency off
   * meanwhile); each customer's contact is seeded in the simulator's Chatwoot and its id, hash and
   * state stored as upsertOrganization stores them.
   */
  async seedFirstSync(env: Record<string, string>, ds: DataSource): Promise<void> {
    const started = Date.now();
    this.limits(false);
    this.sim.pipedrive.setFaults({ latencyMs: 0 });
    this.sim.chatwoot.setFaults({ latencyMs: 0, perMinuteLimit: null });
    const config = testConfig(env);
    const silent = { warn: () => undefined, info: () => undefined };
    await ensureTarget(ds, config, silent as never);
    // The contact attribute definitions a first run creates (and remembers in Redis).
    const chatwoot = new ChatwootClient({
      baseUrl: config.chatwoot.baseUrl!,
      accountId: config.chatwoot.accountId!,
      apiKey: config.chatwoot.apiKey!,
    });
    await ensureDefinitions({ config, redis: this.redis, chatwoot, log: silent as never });
    const pd = new PipedriveClient({ baseUrl: config.pipedrive.baseUrl, apiKey: config.pipedrive.apiKey! });
    const fields = await pd.organizationFields();
    const labelId = resolveCustomerLabel(fields, config.pipedrive.customerLabel);
    const mapping = {
      phoneFieldKey: config.pipedrive.phoneField ? resolveFieldKey(fields, config.pipedrive.phoneField) : undefined,
      supportLinkFieldKey: config.pipedrive.supportLinkField
        ? resolveFieldKey(fields, config.pipedrive.supportLinkField)
        : undefined,
      defaultCountry: config.defaultCountry,
      pipedriveWebOrigin: pipedriveWebOrigin(config.pipedrive.baseUrl),
    };
    for await (const page of pd.personPages()) await upsertPersons(ds, page, null);
    const customers: number[] = [];
    for await (const page of pd.organizationPages()) {
      const rows = page.map((org) => ({ org, isCustomer: !org.isDeleted && org.labelIds.includes(labelId) }));
      await upsertOrganizations(ds, rows, null);
      for (const r of rows) if (r.isCustomer) customers.push(r.org.id);
    }
    const inboxId = config.chatwoot.inboxId;
    for (let i = 0; i < customers.length; i += 1_000) {
      const ids = customers.slice(i, i + 1_000);
      const orgs = await loadOrganizations(ds, ids);
      const persons = await loadPersonsByOrg(ds, ids);
      const rows: [number, number, string, string, string | null][] = [];
      for (const org of orgs) {
        const people = (persons.get(org.id) ?? []).map((p) => ({
          id: p.id,
          emails: p.emails ?? [],
          phones: p.phones ?? [],
        }));
        const source = {
          id: org.id,
          name: org.name,
          city: org.city,
          country: org.country,
          customFields: org.customFields,
        };
        let desired = buildContact(source, people, mapping, null);
        // A value the simulator's Chatwoot refuses (taken by another contact, not E.164) is left
        // off and remembered, as upsertOrganization does after the 422.
        const refused = this.sim.chatwoot.validate({ ...desired.payload, id: -1 } as never);
        const rejected: Partial<Record<'email' | 'phone_number', string>> = {};
        for (const f of ['email', 'phone_number'] as const)
          if (refused?.attributes.includes(f) && desired.sources[f] !== undefined) rejected[f] = desired.sources[f];
        if (Object.keys(rejected).length) desired = buildContact(source, people, mapping, rejected);
        const contact = this.sim.chatwoot.seedContact({
          ...desired.payload,
          ...(inboxId ? { inbox_id: inboxId } : {}),
        });
        rows.push([
          org.id,
          contact.id,
          desired.hash,
          desired.warnings.length ? 'warning' : 'synced',
          Object.keys(rejected).length ? JSON.stringify(rejected) : null,
        ]);
      }
      await ds.query(
        `UPDATE organizations o JOIN JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT PATH '$[0]', cid BIGINT PATH '$[1]',
           h VARCHAR(64) PATH '$[2]', st VARCHAR(16) PATH '$[3]', rv TEXT PATH '$[4]')) v ON o.id = v.id
         SET o.chatwoot_contact_id = v.cid, o.content_hash = v.h, o.sync_state = v.st, o.contact_status = 'Customer',
           o.rejected_values = v.rv,
           o.last_synced_at = UTC_TIMESTAMP(3), o.last_attempt_at = UTC_TIMESTAMP(3)`,
        [JSON.stringify(rows)],
      );
    }
    log(
      `seeded the state of a first sync (${customers.length} customers) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }

  async main() {
    await this.sim.start();
    for (const n of sizes) {
      if (scenarios.has('a') || scenarios.has('b') || scenarios.has('c')) {
        const customers = this.seed(n);
        const { db, prefix, env, ds } = await this.env(`b${n}`);
        if (seedState) await this.seedFirstSync(env, ds);
        this.limits(true);
        const ws = await this.workers(1, env);
        log(`N=${n}: ${customers} customers`);
        this.sim.resetStats();
        if (!seedState)
          this.record('a first full sync', n, customers, ws, true, await this.run(env, prefix, ds, 'full'));
        if (scenarios.has('b')) {
          for (let i = 0; i < repeat; i++) {
            this.sim.resetStats();
            this.record('b re-sync, no change', n, customers, ws, true, await this.run(env, prefix, ds, 'full'));
          }
        } else if (seedState && scenarios.has('c')) {
          await this.run(env, prefix, ds, 'full');
        }
        if (scenarios.has('c')) {
          const k = Math.round(customers * 0.01);
          const ids = this.sim.pipedrive
            .listOrgs()
            .filter((o) => !o.is_deleted && o.label_ids.includes(SIM_DEFAULTS.pipedriveCustomerLabelId))
            .slice(0, k)
            .map((o) => o.id);
          for (const id of ids) this.sim.pipedrive.upsertOrg({ id, name: `Renamed ${id}` });
          this.sim.resetStats();
          this.record(
            `c incremental, 1% (${k}) changed`,
            n,
            customers,
            ws,
            true,
            await this.run(env, prefix, ds, 'incremental'),
          );
        }
        await Promise.all(ws.map((w) => w.stop()));
        await ds.destroy();
        await dropPrefix(prefix);
        await db.drop();
      }
      if (scenarios.has('d')) {
        for (const w of workerCounts) {
          const customers = this.seed(n);
          this.limits(false);
          const { db, prefix, env, ds } = await this.env(`d${n}w${w}`);
          const ws = await this.workers(w, env);
          this.sim.resetStats();
          this.record(
            `d first sync, ${w} worker(s), no rate limit`,
            n,
            customers,
            ws,
            false,
            await this.run(env, prefix, ds, 'full'),
          );
          await Promise.all(ws.map((p) => p.stop()));
          await ds.destroy();
          await dropPrefix(prefix);
          await db.drop();
        }
      }
    }
    await this.sim.stop();
    this.redis.disconnect();
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      settings: {
        latencyMs,
        chatwootPerMinute,
        pipedriveBurstPer2s: pipedriveBurst,
        batchSize: 50,
        workerConcurrency: 4,
      },
      results: this.results,
    };
    const dir = join(REPO_ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `sync-${report.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2));
    console.log(
      `\n| scenario | orgs | customers | workers | wall s | listing s | Chatwoot-limit s | status | PD req (org/person) | CW req | CW writes | req/org | peak RSS MB |`,
    );
    console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
    for (const r of this.results) {
      console.log(
        `| ${r.scenario} | ${r.orgs} | ${r.customers} | ${r.workers} | ${r.wallSeconds} | ${r.listingSeconds ?? '-'} | ${r.chatwootLimitSeconds ?? '-'} | ${r.runStatus} | ${r.pipedriveRequests} (${r.pipedriveOrgRequests}/${r.pipedrivePersonRequests}) | ${r.chatwootRequests} | ${r.chatwootWrites} | ${r.requestsPerOrg} | ${r.peakRssMb.join(', ')} |`,
      );
    }
    console.log(`\nreport: ${file}`);
  }
}

await new Bench().main();
process.exit(0);
