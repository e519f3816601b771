/**
 * Loads a year of history into a migrated database with INSERT … SELECT over MariaDB's sequence
 * engine (`seq_1_to_N`), so a year of runs, outcomes and check results takes seconds, not hours.
 * Used by bench/history.bench.ts. Every value is derived from the row number: the same load gives
 * the same data.
 *
 * The year: run n of `runs` starts at `start + n × (365 days / runs)`.
 *   - every 34th run lists Pipedrive (about hourly), every 24th of those fully (about daily);
 *     1 in 97 listing runs failed (listing incomplete), 1 in 13 ended partial;
 *   - every 820th (offset 17) is a cleanup run (`mark`, about daily);
 *   - the rest are targeted runs (`webhook` mode): webhook events, 1 in 10 an operator's `--org`;
 *     1 in 50 failed.
 * Each listing run has `outcomesPerListing` outcomes (an `unchanged` row per customer org, a few
 * `updated`), each targeted run one. Check results: the six checks in turn, evenly over the year.
 */
import type { DataSource } from '../packages/db/src/index.js';

export interface HistorySize {
  runs: number;
  /** Outcomes of one listing run (≈ 3M outcomes in all with 300k runs at 307). */
  outcomesPerListing: number;
  checks: number;
  /** Relayed alert outbox rows (delivered alerts). */
  alerts: number;
  orgs: number;
}

export const YEAR: HistorySize = {
  runs: 300_000,
  outcomesPerListing: 307,
  checks: 500_000,
  alerts: 3_000,
  orgs: 5_000,
};

const CHECKS = ['pipedrive-api', 'chatwoot-api', 'sync-status', 'consistency', 'freshness', 'queues'];
const YEAR_US = 365 * 86_400 * 1_000_000;
const CHUNK = 50_000;

/** A UUID-shaped id derived from a number (random-looking, like the real v4 run ids). */
const uuidOf = (n: string) =>
  `LOWER(CONCAT_WS('-', SUBSTR(MD5(CONCAT('run-', ${n})),1,8), SUBSTR(MD5(CONCAT('run-', ${n})),9,4),
     CONCAT('4', SUBSTR(MD5(CONCAT('run-', ${n})),14,3)), CONCAT('8', SUBSTR(MD5(CONCAT('run-', ${n})),18,3)),
     SUBSTR(MD5(CONCAT('run-', ${n})),21,12)))`;

const MODE = (n: string) =>
  `CASE WHEN ${n} % 34 = 0 THEN IF((${n} DIV 34) % 24 = 0, 'full', 'incremental') WHEN ${n} % 820 = 17 THEN 'mark' ELSE 'webhook' END`;

export interface LoadReport {
  seconds: number;
  rows: Record<string, number>;
  start: Date;
  end: Date;
}

/**
 * Fills runs, record_outcomes, check_results, alert_outbox, alert_states, organizations and the
 * sync target of `targetKey` (as ensureTarget stores it), ending a minute before the database's now.
 */
export async function loadHistory(
  ds: DataSource,
  size: HistorySize,
  targetKey: string,
  log: (...a: unknown[]) => void = () => {},
): Promise<LoadReport> {
  const t0 = Date.now();
  const [{ now }] = (await ds.query('SELECT UTC_TIMESTAMP(3) AS now')) as [{ now: Date }];
  const end = new Date(now.getTime() - 60_000);
  const start = new Date(end.getTime() - YEAR_US / 1000);
  const runStepUs = Math.floor(YEAR_US / size.runs);
  const checkStepUs = Math.floor(YEAR_US / size.checks);
  const runner = ds.createQueryRunner();
  await runner.connect();
  const q = (sql: string, params: unknown[] = []) => runner.query(sql, params);
  // The outcome indexes are built once after the load (a sorted build) instead of row by row:
  // random run ids make row-by-row maintenance of 3M entries the slow part. Same definitions.
  const [{ 'Create Table': ddl }] = (await ds.query('SHOW CREATE TABLE record_outcomes')) as [
    { 'Create Table': string },
  ];
  const keys = ddl
    .split('\n')
    .map((l) => l.trim().replace(/,$/, ''))
    .filter((l) => /^(UNIQUE )?KEY /.test(l));
  const keyName = (k: string) => /KEY `([^`]+)`/.exec(k)![1]!;
  const [{ limit }] = (await q('SELECT @@max_statement_time AS `limit`')) as [{ limit: number }];
  try {
    await q('SET SESSION max_statement_time = 0');
    await q('SET SESSION unique_checks = 0');
    if (keys.length) await q(`ALTER TABLE record_outcomes ${keys.map((k) => `DROP KEY \`${keyName(k)}\``).join(', ')}`);
    await q(
      "INSERT INTO pcs_settings (name, value, updated_at) VALUES ('sync_target', ?, '1970-01-01 00:00:01') ON DUPLICATE KEY UPDATE value = VALUES(value)",
      [targetKey],
    );
    const listings = Math.floor(size.runs / 34);
    const details = JSON.stringify({
      requestedMode: 'incremental',
      legacyLookup: true,
      customers: size.outcomesPerListing,
      personPages: 3,
      target: targetKey,
    });

    for (let lo = 1; lo <= size.runs; lo += CHUNK) {
      const hi = Math.min(size.runs, lo + CHUNK - 1);
      // Listing runs take ~1 min (a full one 10), targeted ones 2 s; failed listings never completed.
      await q(
        `INSERT INTO runs (id, type, mode, trigger_source, status, started_at, finished_at, listing_started_at,
           listing_complete, batches_total, batches_done, processed, created, updated, unchanged, adopted, warnings,
           failed, marked, deleted, skipped, error_type, error_message, error_kind, error_source, details, job_id, alerts_done)
         SELECT ${uuidOf('n')}, IF(mode = 'mark', 'cleanup', 'sync'), mode,
           CASE WHEN mode = 'webhook' THEN IF(n % 10 = 3, 'cli', 'webhook') ELSE 'schedule' END,
           status, t, t + INTERVAL IF(mode = 'full', 600, IF(mode = 'webhook', 2, 60)) SECOND,
           IF(mode = 'mark', NULL, t + INTERVAL 1 SECOND), IF(mode = 'mark', 0, status <> 'failed' OR mode = 'webhook'),
           IF(listing, 7, 0), IF(listing AND status <> 'failed', 7, 0),
           IF(listing, ?, IF(mode = 'webhook', 1, 0)), 0, IF(listing, 5, IF(mode = 'webhook' AND status <> 'failed', 1, 0)),
           IF(listing, ? - 5 - (status = 'partial'), 0), 0, 0, IF(listing AND status = 'partial', 1, IF(mode = 'webhook' AND status = 'failed', 1, 0)),
           IF(mode = 'mark', 2, 0), 0, 0,
           IF(status = 'failed', IF(listing, 'auth issue', 'API failure'), NULL),
           IF(status = 'failed', IF(listing, 'Pipedrive rejected the API token (401)', 'Chatwoot answered 502'), NULL),
           IF(status = 'failed', IF(listing, 'auth', 'transient'), NULL),
           IF(status = 'failed', IF(listing, 'pipedrive', 'chatwoot'), NULL),
           IF(listing, ?, IF(mode = 'webhook', CONCAT('{"orgIds":[', n % ${size.orgs} + 1, ']}'), '{"stale":2}')),
           CONCAT('repeat:schedule:', n), 1
         FROM (
           SELECT seq AS n, ${MODE('seq')} AS mode, seq % 34 = 0 AS listing,
             TIMESTAMPADD(MICROSECOND, seq * ${runStepUs}, ?) AS t,
             CASE WHEN seq % 34 = 0 THEN (CASE WHEN seq % 97 = 0 THEN 'failed' WHEN seq % 13 = 0 THEN 'partial' ELSE 'succeeded' END)
                  WHEN seq % 820 = 17 THEN 'succeeded'
                  ELSE IF(seq % 50 = 0, 'failed', 'succeeded') END AS status
           FROM seq_1_to_${size.runs} WHERE seq BETWEEN ? AND ?
         ) x`,
        [size.outcomesPerListing, size.outcomesPerListing, details, start, lo, hi],
      );
      log(`runs ${hi}/${size.runs}`);
    }

    // Outcomes of listing runs: run k·34, organizations (k·34·307 + s) mod orgs, created through the run.
    const per = Math.max(1, Math.floor((CHUNK * 4) / size.outcomesPerListing));
    for (let lo = 1; lo <= listings; lo += per) {
      const hi = Math.min(listings, lo + per - 1);
      await q(
        `INSERT INTO record_outcomes (run_id, org_id, outcome, error_type, message, created_at)
         SELECT ${uuidOf('k.seq * 34')}, (k.seq * 34 * ${size.outcomesPerListing} + s.seq) % ${size.orgs} + 1,
           CASE WHEN s.seq <= 5 THEN 'updated' WHEN s.seq = 6 AND (k.seq * 34) % 13 = 0 AND (k.seq * 34) % 97 <> 0 THEN 'warning'
                ELSE 'unchanged' END,
           IF(s.seq = 6 AND (k.seq * 34) % 13 = 0 AND (k.seq * 34) % 97 <> 0, 'bad_data', NULL),
           IF(s.seq = 6 AND (k.seq * 34) % 13 = 0 AND (k.seq * 34) % 97 <> 0, 'phone_number left off: not a phone number', NULL),
           TIMESTAMPADD(MICROSECOND, k.seq * 34 * ${runStepUs} + 2000000 + s.seq * 100000, ?)
         FROM seq_1_to_${listings} k JOIN seq_1_to_${size.outcomesPerListing} s
         WHERE k.seq BETWEEN ? AND ?`,
        [start, lo, hi],
      );
      log(`listing outcomes ${hi}/${listings} runs`);
    }
    // Outcomes of targeted runs: one each.
    for (let lo = 1; lo <= size.runs; lo += CHUNK * 2) {
      const hi = Math.min(size.runs, lo + CHUNK * 2 - 1);
      await q(
        `INSERT INTO record_outcomes (run_id, org_id, outcome, error_type, message, created_at)
         SELECT ${uuidOf('seq')}, seq % ${size.orgs} + 1, IF(seq % 50 = 0, 'failed', 'updated'),
           IF(seq % 50 = 0, 'transient', NULL), IF(seq % 50 = 0, 'Chatwoot answered 502', NULL),
           TIMESTAMPADD(MICROSECOND, seq * ${runStepUs} + 1000000, ?)
         FROM seq_1_to_${size.runs} WHERE seq BETWEEN ? AND ? AND seq % 34 <> 0 AND seq % 820 <> 17`,
        [start, lo, hi],
      );
    }
    log('targeted outcomes');
    if (keys.length) await q(`ALTER TABLE record_outcomes ${keys.map((k) => `ADD ${k}`).join(', ')}`);
    log('outcome indexes built');

    for (let lo = 1; lo <= size.checks; lo += CHUNK * 2) {
      const hi = Math.min(size.checks, lo + CHUNK * 2 - 1);
      await q(
        `INSERT INTO check_results (check_name, status, message, details, duration_ms, checked_at)
         SELECT ELT(seq % 6 + 1, ${CHECKS.map((c) => `'${c}'`).join(', ')}), IF(seq % 211 = 0, 'warning', 'ok'),
           IF(seq % 211 = 0, '3 customer organizations unsynced for more than 2 h', 'all good'),
           CONCAT('{"durationMs":', seq % 400, ',"unsynced":0}'), seq % 400,
           TIMESTAMPADD(MICROSECOND, seq * ${checkStepUs}, ?)
         FROM seq_1_to_${size.checks} WHERE seq BETWEEN ? AND ?`,
        [start, lo, hi],
      );
    }
    log('check results');

    const alertDoc = JSON.stringify({
      timestamp: '2026-01-15 10:30:00 UTC',
      script: 'monitor',
      level: 'WARNING',
      error_type: 'data mismatch',
      message: '3 customer organizations unsynced for more than 2 h',
      details: { affected_count: 3 },
      fingerprint: 'monitor:sync-status:stale',
      state: 'firing',
    });
    await q(
      `INSERT INTO alert_outbox (fingerprint, channel, alert, created_at, relayed_at, attempts)
       SELECT ELT(seq % 4 + 1, 'monitor:sync-status:stale', 'monitor:freshness', 'sync:run-failed', 'monitor:pipedrive-api'),
         'queue', ?, TIMESTAMPADD(SECOND, seq * ${Math.floor(YEAR_US / 1e6 / size.alerts)}, ?),
         TIMESTAMPADD(SECOND, seq * ${Math.floor(YEAR_US / 1e6 / size.alerts)} + 1, ?), 1
       FROM seq_1_to_${size.alerts}`,
      [alertDoc, start, start],
    );
    // Alert states: a handful of conditions, two firing now, one silenced; the others resolved long ago.
    await q(
      `INSERT INTO alert_states (fingerprint, state, level, script, error_type, message, details, first_fired_at,
         last_fired_at, last_notified_at, resolved_at, notify_count, silenced_until, silence_reason, updated_at)
       SELECT CONCAT('monitor:check-', seq), IF(seq <= 3, 'firing', 'resolved'), IF(seq % 2, 'WARNING', 'ERROR'), 'monitor',
         'data mismatch', CONCAT('condition ', seq), NULL, ? - INTERVAL seq DAY, ? - INTERVAL seq HOUR,
         ? - INTERVAL seq HOUR, IF(seq <= 3, NULL, ? - INTERVAL seq HOUR), seq * 3,
         IF(seq = 3, ? + INTERVAL 2 HOUR, NULL), IF(seq = 3, 'maintenance', NULL), ? - INTERVAL seq HOUR
       FROM seq_1_to_12`,
      [end, end, end, end, end, end],
    );
    await q(
      `INSERT INTO organizations (id, name, is_customer, is_deleted, chatwoot_contact_id, content_hash, sync_state,
         last_synced_at, last_attempt_at, created_at, updated_at)
       SELECT seq, CONCAT('Org ', seq), 1, 0, seq + 100000, SHA2(CONCAT('org', seq), 256), 'synced', ?, ?, ?, ?
       FROM seq_1_to_${size.orgs}`,
      [end, end, start, end],
    );
    log('alerts, organizations');
    for (const t of ['runs', 'record_outcomes', 'check_results', 'alert_outbox']) await q(`ANALYZE TABLE ${t}`);
  } finally {
    await q('SET SESSION unique_checks = 1, max_statement_time = ?', [limit]).catch(() => undefined);
    await runner.release();
  }
  const rows: Record<string, number> = {};
  for (const t of ['runs', 'record_outcomes', 'check_results', 'alert_outbox', 'alert_states', 'organizations']) {
    const [r] = (await ds.query(`SELECT COUNT(*) AS n FROM ${t}`)) as [{ n: string }];
    rows[t] = Number(r.n);
  }
  return { seconds: (Date.now() - t0) / 1000, rows, start, end };
}
