/**
 * `pnpm bench -- --mode cleanup`: cleanup's memory and time over many managed contacts.
 *
 *   pnpm bench -- --mode cleanup                        100k contacts, 5 % stale: a dry run, then the real one
 *   pnpm bench -- --mode cleanup --stale 30 --force     30 % stale, above CLEANUP_MAX_PERCENT: forced
 *   pnpm bench -- --mode cleanup --contacts 20000 --runs dry-run --latency 5
 *
 * Options: --contacts N (managed contacts, one per Pipedrive organization; default 100000),
 * --stale P (percent of those organizations that stopped being customers: their label removed;
 * default 5), --max-percent P (CLEANUP_MAX_PERCENT, default 10), --force, --action mark|delete,
 * --runs dry-run,real (each in a fresh worker process, so each has its own peak), --latency ms
 * (simulator latency per request, default 0), --duplicates N and --orphans N (extra contacts: a
 * second contact of a customer organization, a contact the database does not know; default 25).
 *
 * The simulator (in this process) holds the seeded Pipedrive and Chatwoot; the database's mirror
 * knows every organization and its contact (as after a full sync), except the orphans. Each
 * cleanup runs in a real worker process started like `pnpm run worker` (the 128 MB heap), serving
 * only the cleanup queue. Reported: wall time from enqueueing to the run's end, the worker's peak
 * RSS (VmHWM) when ready and at the end, the requests, the run's counters. Writes a JSON report
 * to bench/results/ and prints a table. Measures, asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { openDatabase, RunEntity, type DataSource, type Run } from '../packages/db/src/index.js';
import { cleanupRunJob } from '../packages/jobs/src/index.js';
import { createSimulator, SIM_DEFAULTS } from '@pcs/simulator';
import { createTestDatabase, dropPrefix, REDIS_URL, tempDir, testEnv, uniqueName } from '../test/support/index.js';
import { spawnApp, type AppProcess } from '../test/support/processes.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    contacts: { type: 'string', default: '100000' },
    stale: { type: 'string', default: '5' },
    'max-percent': { type: 'string', default: '10' },
    force: { type: 'boolean', default: false },
    action: { type: 'string', default: 'mark' },
    runs: { type: 'string', default: 'dry-run,real' },
    latency: { type: 'string', default: '0' },
    duplicates: { type: 'string', default: '25' },
    orphans: { type: 'string', default: '25' },
  },
});
const contacts = Number(values.contacts);
const stalePercent = Number(values.stale);
const maxPercent = Number(values['max-percent']);
const latencyMs = Number(values.latency);
const duplicates = Number(values.duplicates);
const orphans = Number(values.orphans);
const runs = values.runs.split(',').filter(Boolean);
if (!['mark', 'delete'].includes(values.action)) throw new Error('--action must be mark or delete');

interface Measure {
  run: string;
  contacts: number;
  staleOrganizations: number;
  force: boolean;
  wallSeconds: number;
  runStatus: string;
  managed: number | null;
  stale: number | null;
  toChange: number | null;
  affectedListed: number | null;
  marked: number;
  deleted: number;
  failed: number;
  refused: string | null;
  chatwootRequests: number;
  chatwootFilterRequests: number;
  chatwootWrites: number;
  pipedriveRequests: number;
  readyRssMb: number;
  peakRssMb: number;
  workerExit: number | null;
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

const sim = createSimulator({ seed: 11 });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });

/** Pipedrive: `contacts` customer organizations, then the stale share loses its label. */
function seedPipedrive(): { orgIds: number[]; stale: Set<number> } {
  const seeded = sim.pipedrive.seed({ orgs: contacts, personsPerOrg: 0, customerRatio: 1, seed: contacts });
  const orgIds = Array.from({ length: seeded.orgs }, (_, i) => seeded.firstOrgId + i);
  const stale = new Set<number>();
  const k = Math.round((contacts * stalePercent) / 100);
  // spread over the whole id range, as label changes are
  for (let i = 0; i < k; i++) stale.add(orgIds[Math.floor((i * orgIds.length) / k)]!);
  for (const id of stale) sim.pipedrive.setCustomerLabel(id, false);
  return { orgIds, stale };
}

/** Chatwoot: one contact per organization, as the sync writes it; a few duplicates and orphans on top. */
function seedChatwoot(orgIds: number[]): { contactOf: Map<number, number>; orphanOrgs: Set<number> } {
  const contactOf = new Map<number, number>();
  const contactFor = (
    orgId: number,
    extra: { identifier?: string | null; name?: string; email?: string | null; phone?: null },
  ) => {
    const org = sim.pipedrive.getOrg(orgId)!;
    return sim.chatwoot.seedContact({
      name: extra.name ?? org.name,
      identifier: extra.identifier === undefined ? `pipedrive:org:${orgId}` : extra.identifier,
      email: extra.email === undefined ? `office@org${orgId}.example` : extra.email,
      phone_number: extra.phone === null || orgId % 3 === 0 ? null : `+6140${String(orgId).padStart(7, '0').slice(-7)}`,
      additional_attributes: {
        company_name: org.name,
        city: org.address?.locality ?? null,
        country: org.address?.country ?? null,
      },
      custom_attributes: {
        pipedrive_org_id: orgId,
        status: 'Customer',
        type: 'organization',
        pipedrive_url: `https://sim.pipedrive.com/organization/${orgId}`,
      },
    });
  };
  for (const id of orgIds) contactOf.set(id, contactFor(id, {}).id);
  // the original deployment's old copies: matched by pipedrive_org_id only
  for (let i = 0; i < duplicates; i++) {
    const orgId = orgIds[(i * 7919) % orgIds.length]!;
    const name = `${sim.pipedrive.getOrg(orgId)!.name} (old copy)`;
    contactFor(orgId, { identifier: null, name, email: `old${i}@x.example`, phone: null });
  }
  const orphanOrgs = new Set<number>();
  for (let i = 0; i < orphans; i++) orphanOrgs.add(orgIds[(i * 104_729 + 13) % orgIds.length]!);
  return { contactOf, orphanOrgs };
}

/** The database's mirror as after a full sync: every organization and its contact id (orphans: none). */
async function seedMirror(ds: DataSource, orgIds: number[], contactOf: Map<number, number>, orphanOrgs: Set<number>) {
  for (let i = 0; i < orgIds.length; i += 1_000) {
    const part = orgIds.slice(i, i + 1_000);
    const values: unknown[] = [];
    for (const id of part) {
      const org = sim.pipedrive.getOrg(id)!;
      const known = !orphanOrgs.has(id);
      values.push(
        id,
        org.name,
        JSON.stringify([SIM_DEFAULTS.pipedriveCustomerLabelId]),
        org.address?.locality ?? null,
        org.address?.country ?? null,
        known ? contactOf.get(id)! : null,
        known ? 'Customer' : null,
        known ? 'synced' : 'pending',
      );
    }
    await ds.query(
      `INSERT INTO organizations (id, name, is_customer, is_deleted, label_ids, city, country, custom_fields, chatwoot_contact_id, contact_status, sync_state, last_synced_at)
       VALUES ${part.map(() => "(?, ?, 1, 0, ?, ?, ?, '{}', ?, ?, ?, UTC_TIMESTAMP(3))").join(', ')}`,
      values,
    );
  }
}

/** Waits for the run to end, reading the worker's peak RSS as it goes (the last reading survives its death). */
async function waitForRun(
  ds: DataSource,
  runId: string,
  worker: AppProcess,
): Promise<{ run: Run | undefined; peakMb: number }> {
  let peakMb = -1;
  for (;;) {
    peakMb = Math.max(peakMb, peakRssMb(worker.child.pid!));
    const run = await ds.getRepository(RunEntity).findOneBy({ id: runId });
    if (run && run.status !== 'running') return { run, peakMb: Math.max(peakMb, peakRssMb(worker.child.pid!)) };
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) return { run: undefined, peakMb };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The commit the workers run (BENCH_COMMIT when the tree has no .git), and the files that differ
 * from it; read at the start, as others may commit meanwhile.
 */
function checkout(): { commit: string; changedFiles: string[] } {
  let commit = process.env.BENCH_COMMIT ?? 'unknown';
  let changedFiles: string[] = [];
  if (process.env.BENCH_COMMIT) return { commit, changedFiles };
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    // files that differ from that commit (the worker ran them as they are)
    changedFiles = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
  } catch {
    // not a git checkout
  }
  return { commit, changedFiles };
}

async function main() {
  const { commit, changedFiles } = checkout();
  await sim.start();
  sim.pipedrive.setFaults({ latencyMs });
  sim.chatwoot.setFaults({ latencyMs });
  const t0 = Date.now();
  const { orgIds, stale } = seedPipedrive();
  const { contactOf, orphanOrgs } = seedChatwoot(orgIds);
  const db = await createTestDatabase('cleanupbench');
  const prefix = uniqueName('cleanupbench');
  const { ds } = await openDatabase(db.config, { poolSize: 2 });
  await seedMirror(ds, orgIds, contactOf, orphanOrgs);
  log(
    `seeded ${orgIds.length} organizations (${stale.size} stale), ${sim.chatwoot.listAllContacts().length} contacts in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const env = testEnv({
    prefix,
    database: db.config.database,
    logDir: tempDir('bench-cleanup'),
    extra: {
      PIPEDRIVE_BASE_URL: sim.pipedriveBaseUrl,
      PIPEDRIVE_API_KEY: SIM_DEFAULTS.pipedriveToken,
      CHATWOOT_BASE_URL: `${sim.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
      CHATWOOT_API_KEY: SIM_DEFAULTS.chatwootAdminToken,
      WORKER_QUEUES: 'cleanup',
      SYNC_CRON: '0 0 1 1 *',
      CLEANUP_CRON: '0 0 1 1 *',
      CLEANUP_ACTION: values.action,
      CLEANUP_MAX_PERCENT: String(maxPercent),
      LOG_LEVEL: 'info',
      ...(process.env.WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.WORKER_NODE_OPTIONS } : {}),
    },
  });
  const results: Measure[] = [];
  try {
    for (const which of runs) {
      const dryRun = which === 'dry-run';
      // The same command as `pnpm run worker` (heap limit included), a fresh process per run.
      const worker = spawnApp('worker', env);
      await worker.waitFor('"worker ready"', 60_000);
      const readyRssMb = peakRssMb(worker.child.pid!);
      sim.resetStats();
      const q = new Queue('cleanup', { connection: redis, prefix });
      const runId = randomUUID();
      const started = Date.now();
      await q.add(
        cleanupRunJob.name,
        { dryRun, force: values.force, mergeDuplicates: false, trigger: 'cli', runId },
        { attempts: 1 },
      );
      await q.close();
      const { run, peakMb: peak } = await waitForRun(ds, runId, worker);
      const seconds = (Date.now() - started) / 1000;
      const exit = await worker.stop();
      const oom = /heap out of memory/.test(worker.output());
      if (!run) log(`worker exited (${exit}) before the run ended:\n${worker.output().slice(-3000)}`);
      const st = sim.stats();
      const cw = st.byApi.chatwoot.byRoute;
      const sum = (f: (k: string) => boolean) =>
        Object.entries(cw)
          .filter(([k]) => f(k))
          .reduce((n, [, v]) => n + v, 0);
      const d = (run?.details ?? {}) as {
        managed?: number;
        stale?: number;
        toChange?: number;
        refused?: string;
        affected?: unknown[];
      };
      const m: Measure = {
        run: `${which}${values.force ? ' --force' : ''}`,
        contacts: orgIds.length + duplicates,
        staleOrganizations: stale.size,
        force: values.force,
        wallSeconds: Math.round(seconds * 10) / 10,
        runStatus: run?.status ?? (oom ? 'worker out of memory' : `worker died (exit ${exit})`),
        managed: d.managed ?? null,
        stale: d.stale ?? null,
        toChange: d.toChange ?? null,
        affectedListed: d.affected?.length ?? null,
        marked: run?.marked ?? 0,
        deleted: run?.deleted ?? 0,
        failed: run?.failed ?? 0,
        refused: d.refused ?? null,
        chatwootRequests: st.byApi.chatwoot.requests,
        chatwootFilterRequests: sum((k) => k.endsWith('/contacts/filter')),
        chatwootWrites: sum((k) => /^(POST|PUT|PATCH|DELETE) /.test(k) && !k.endsWith('/contacts/filter')),
        pipedriveRequests: st.byApi.pipedrive.requests,
        readyRssMb,
        peakRssMb: peak,
        workerExit: exit,
      };
      results.push(m);
      log(which, JSON.stringify(m));
    }
  } finally {
    await ds.destroy();
    await sim.stop();
    await dropPrefix(prefix);
    await db.drop();
    redis.disconnect();
  }
  const report = {
    date: new Date().toISOString(),
    commit,
    changedFiles,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    settings: {
      contacts,
      stalePercent,
      maxPercent,
      force: values.force,
      action: values.action,
      latencyMs,
      duplicates,
      orphans,
      workerHeapMb: 128,
    },
    results,
  };
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `cleanup-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(
    `\n| run | contacts | stale orgs | wall s | status | managed | to change | marked | deleted | failed | CW req (filter/writes) | PD req | RSS ready MB | peak RSS MB |`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
  for (const r of results)
    console.log(
      `| ${r.run} | ${r.contacts} | ${r.staleOrganizations} | ${r.wallSeconds} | ${r.runStatus} | ${r.managed ?? '-'} | ${r.toChange ?? '-'} | ${r.marked} | ${r.deleted} | ${r.failed} | ${r.chatwootRequests} (${r.chatwootFilterRequests}/${r.chatwootWrites}) | ${r.pipedriveRequests} | ${r.readyRssMb} | ${r.peakRssMb} |`,
    );
  console.log(`\nreport: ${file}`);
}

await main();
process.exit(0);
