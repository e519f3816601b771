/**
 * `pnpm bench -- --mode history`: a year of history in the database (300k runs, most of them
 * targeted, 3M per-record outcomes, 500k check results; see bench/history-load.ts), and what
 * reads it, timed the way an operator meets it:
 *   - `manage status --json`: the real CLI process (wall time, tsx start-up included), and the
 *     status work itself (buildStatus, in this process, on one connection like the CLI's);
 *   - `GET /api/status` and `GET /metrics` of a real dashboard process, over HTTP;
 *   - the freshness check (packages/monitor/src/checks/freshness.ts);
 *   - the full-or-incremental decision of a scheduled sync (decideMode, packages/sync/src/listing.ts);
 *   - and, for reference, the sync-status and consistency checks and `manage runs` (RunHistory.recent).
 * Then the first prune of that year at RETENTION_DAYS=90 and a daily one (retention.ts).
 *
 *   pnpm bench -- --mode history                 the year, 7 repetitions each (median and max)
 *   pnpm bench -- --mode history --reps 15 --keep   keep the database afterwards (its name is printed)
 *   pnpm bench -- --mode history --database <name>  reuse a database a previous --keep left (no load)
 *   pnpm bench -- --mode history --no-prune        skip the prune
 *
 * Each measurement is repeated; the first HTTP request of each route is a warm-up (reported as
 * `first`, not in the statistics). Writes a JSON report to bench/results/ and prints a table.
 * Measures, asserts nothing; the target is 100 ms for each (median and max).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { REPO_ROOT, parseConfig, type Config } from '../packages/config/src/index.js';
import { openDatabase } from '../packages/db/src/index.js';
import { wantedSchedules } from '../packages/jobs/src/index.js';
import { CHECKS, type CheckContext } from '../packages/monitor/src/index.js';
import { buildStatus, databaseStatus } from '../packages/ops/src/index.js';
import {
  closeQueues,
  createQueues,
  createRedis,
  QUEUE_NAMES,
  reconcileSchedulers,
} from '../packages/queues/src/index.js';
import { decideMode, pruneHistory, Runs, targetKey, targetSince, type SyncDeps } from '../packages/sync/src/index.js';
import { createTestDatabase, dropPrefix, MYSQL, tempDir, testEnv, uniqueName } from '../test/support/index.js';
import { runCli, spawnApp, type AppProcess } from '../test/support/processes.js';
import { loadHistory, YEAR } from './history-load.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    reps: { type: 'string', default: '7' },
    keep: { type: 'boolean', default: false },
    database: { type: 'string' },
    'no-prune': { type: 'boolean', default: false },
  },
});
const reps = Math.max(1, Number(values.reps));
const TARGET_MS = 100;
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

interface Measure {
  what: string;
  how: string;
  reps: number;
  medianMs: number;
  maxMs: number;
  minMs: number;
  /** A warm-up before the repetitions (first request of a route), when there was one. */
  firstMs?: number;
  /** Within the target (median and max ≤ 100 ms); null for reference figures. */
  withinTarget: boolean | null;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function stats(what: string, how: string, ms: number[], opts: { firstMs?: number; target?: boolean } = {}): Measure {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const m: Measure = {
    what,
    how,
    reps: ms.length,
    medianMs: round(median),
    maxMs: round(sorted[sorted.length - 1]!),
    minMs: round(sorted[0]!),
    ...(opts.firstMs !== undefined ? { firstMs: round(opts.firstMs) } : {}),
    withinTarget: opts.target === false ? null : median <= TARGET_MS && sorted[sorted.length - 1]! <= TARGET_MS,
  };
  log(what, JSON.stringify(m));
  return m;
}

async function repeat(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await time(fn));
  return out;
}

/** The commit measured: BENCH_COMMIT (a clean export of a commit has no .git), else git's HEAD. */
function commitOf(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: REPO_ROOT }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { cwd: REPO_ROOT }).toString().trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const results: Measure[] = [];
  const db = values.database
    ? { config: { ...MYSQL, database: values.database }, drop: async () => undefined }
    : await createTestDatabase('history');
  const prefix = uniqueName('history');
  const env = testEnv({
    prefix,
    database: db.config.database,
    logDir: tempDir('bench-history'),
    extra: {
      PIPEDRIVE_BASE_URL: 'http://127.0.0.1:9',
      PIPEDRIVE_API_KEY: 'bench-pipedrive-key',
      CHATWOOT_BASE_URL: 'http://127.0.0.1:9/api/v1/accounts/2',
      CHATWOOT_API_KEY: 'bench-chatwoot-key',
      DASHBOARD_USER: 'bench',
      DASHBOARD_PASSWORD: 'bench-password-42',
      DASHBOARD_HOST: '127.0.0.1',
      DASHBOARD_PORT: '0',
      LOG_LEVEL: 'warn',
    },
  });
  const config: Config = parseConfig(env);
  const { ds } = await openDatabase(db.config, { poolSize: 4 });
  let load: Awaited<ReturnType<typeof loadHistory>> | undefined;
  if (!values.database) {
    log(`loading a year of history into ${db.config.database}`);
    load = await loadHistory(ds, YEAR, targetKey(config), log);
    log(`loaded in ${load.seconds.toFixed(1)} s`, load.rows);
  }
  const rows: Record<string, number> = {};
  for (const t of ['runs', 'record_outcomes', 'check_results', 'alert_outbox']) {
    const [r] = (await ds.query(`SELECT COUNT(*) AS n FROM ${t}`)) as [{ n: string }];
    rows[t] = Number(r.n);
  }
  const [{ v, bp }] = (await ds.query('SELECT VERSION() AS v, @@innodb_buffer_pool_size AS bp')) as [
    { v: string; bp: string },
  ];
  const server = `${v}, innodb_buffer_pool_size ${Math.round(Number(bp) / 2 ** 20)} MB`;
  const [{ webhook }] = (await ds.query("SELECT COUNT(*) AS webhook FROM runs WHERE mode = 'webhook'")) as [
    { webhook: string },
  ];

  // Redis as a deployment has it: every scheduler in place (the status lists them), no worker online.
  const redis = createRedis(config.redis.url, 'producer');
  const queues = createQueues(redis, prefix);
  await reconcileSchedulers(queues, wantedSchedules(config, QUEUE_NAMES), QUEUE_NAMES, 'apply');
  let dashboard: AppProcess | undefined;
  try {
    // 1. manage status --json: the real CLI, and its work in this process on one connection.
    const version = await repeat(3, async () => {
      const r = await runCli(['--version'], env);
      if (r.code !== 0) throw new Error(`manage --version exited ${r.code}: ${r.stderr}`);
    });
    results.push(
      stats('`manage --version` (process start-up, for reference)', 'CLI process wall time', version, {
        target: false,
      }),
    );
    const cli = await repeat(reps, async () => {
      const r = await runCli(['status', '--json'], env);
      const doc = JSON.parse(r.stdout) as { database: { ok: boolean }; lastRuns: { lastSuccessfulSync: unknown } };
      if (r.code !== 0 || !doc.database.ok || !doc.lastRuns.lastSuccessfulSync)
        throw new Error(`manage status --json: exit ${r.code}, ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
    });
    results.push(
      stats('`manage status --json`', 'CLI process wall time (tsx start-up included)', cli, { target: false }),
    );
    const one = (await openDatabase(db.config, { migrate: false, poolSize: 1 })).ds;
    try {
      const whole = await repeat(reps, () => buildStatus({ config, queues, ds: one, redis }));
      results.push(stats('status document (buildStatus)', 'in process, 1 connection like the CLI', whole));
      const dbPart = await repeat(reps, () => databaseStatus(config, one, redis));
      results.push(stats('status, database part (databaseStatus)', 'in process, 1 connection', dbPart));
    } finally {
      await one.destroy();
    }

    // 2. The dashboard over HTTP.
    dashboard = spawnApp('dashboard', { ...env, LOG_LEVEL: 'info' });
    await dashboard.waitFor(/"port":(\d+),"board"/, 60_000);
    const port = /"port":(\d+),"board"/.exec(dashboard.output())![1];
    const auth = `Basic ${Buffer.from('bench:bench-password-42').toString('base64')}`;
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: auth } });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 200)}`);
      return body;
    };
    for (const path of ['/api/status', '/metrics']) {
      const first = await time(() => get(path));
      results.push(
        stats(`GET ${path}`, 'dashboard process over HTTP', await repeat(reps, () => get(path)), { firstMs: first }),
      );
    }

    // 3. The freshness check and the full-or-incremental decision, and reference figures.
    const runs = new Runs(ds);
    const ctx = {
      config,
      ds,
      runs,
      queues,
      redis,
      apis: () => {
        throw new Error('no API in this benchmark');
      },
    } as CheckContext;
    results.push(
      stats(
        'freshness check',
        'in process (the check itself, as its job runs it)',
        await repeat(reps, () => CHECKS.freshness(ctx)),
      ),
    );
    const deps = { runs } as unknown as SyncDeps;
    const decisions = await repeat(reps, async () => {
      const since = await targetSince(ds, config);
      const d = await decideMode(deps, 'incremental', since);
      if (d.mode !== 'incremental') throw new Error(`expected an incremental decision, got ${JSON.stringify(d)}`);
    });
    results.push(stats('full-or-incremental decision', 'in process (targetSince + decideMode)', decisions));
    results.push(
      stats('sync-status check', 'in process (reference)', await repeat(reps, () => CHECKS['sync-status'](ctx)), {
        target: false,
      }),
    );
    results.push(
      stats('consistency check', 'in process (reference)', await repeat(reps, () => CHECKS.consistency(ctx)), {
        target: false,
      }),
    );
    results.push(
      stats(
        '`manage runs` list (RunHistory.recent)',
        'in process (reference)',
        await repeat(reps, () => runs.recent(20)),
        { target: false },
      ),
    );
  } finally {
    await dashboard?.stop();
    await closeQueues(queues);
    redis.disconnect();
    await dropPrefix(prefix);
  }

  // 4. The prune: the first one over the year (RETENTION_DAYS 90: about 3/4 of the rows), then a day's.
  const prunes: Record<string, unknown>[] = [];
  if (!values['no-prune']) {
    const since = await targetSince(ds, config);
    for (const days of [90, 89]) {
      log(`prune at RETENTION_DAYS=${days}`);
      const report = await pruneHistory(ds, { retentionDays: days, since });
      prunes.push({ ...report });
      log(JSON.stringify(report));
    }
  }
  await ds.destroy();
  if (!values.keep && !values.database) await db.drop();
  else log(`database kept: ${db.config.database}`);

  const report = {
    date: new Date().toISOString(),
    commit: commitOf(),
    command: `pnpm bench -- --mode history${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      database: server,
    },
    data: { ...rows, webhookRuns: Number(webhook), loadSeconds: load?.seconds ?? null },
    targetMs: TARGET_MS,
    results,
    prunes,
  };
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `history-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(
    `\nA year of history: ${rows.runs} runs (${webhook} targeted), ${rows.record_outcomes} outcomes, ${rows.check_results} check results; commit ${report.commit}\n`,
  );
  console.log('| what | how | median ms | max ms | first ms | ≤ 100 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.what} | ${r.how} | ${r.medianMs} | ${r.maxMs} | ${r.firstMs ?? '-'} | ${r.withinTarget === null ? '(reference)' : r.withinTarget ? 'yes' : 'NO'} |`,
    );
  for (const p of prunes as {
    retentionDays: number;
    deleted: Record<string, number>;
    statements: number;
    longestStatementMs: number;
    seconds: number;
  }[])
    console.log(
      `\nprune at RETENTION_DAYS=${p.retentionDays}: ${Object.entries(p.deleted)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; ${p.statements} statements, longest ${p.longestStatementMs} ms, ${p.seconds.toFixed(1)} s`,
    );
  console.log(`\nreport: ${file}`);
}

await main();
process.exit(0);
