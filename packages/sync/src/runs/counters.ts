import type { EntityManager, Run } from '@pcs/db';
import type { OutcomeRecord } from './types.js';

/**
 * The counters of /metrics (docs/contract.md §4), kept in the `metric_counters` table as the work
 * happens, by the one who does it: a run's end by the transition that ended it (in its
 * transaction, only when it changed the run: a run is counted once, whichever path ends it), a
 * record by the commit that recorded its outcome, a notification by the delivery. So they survive
 * a dashboard restart, a scrape reads a handful of rows, and pruning old runs never lowers them.
 */
export const METRIC_COUNTERS = {
  /** Ended sync runs; `mode` full|incremental|targeted, `status` succeeded|partial|failed. */
  pcs_sync_runs_total: ['mode', 'status'],
  /** Records of sync runs by outcome, each record once (a value left off: `warning`). */
  pcs_sync_records_total: ['outcome'],
  /** Ended cleanup runs; `mode` mark|delete|dry-run, `status` succeeded|partial|failed|refused. */
  pcs_cleanup_runs_total: ['mode', 'status'],
  /** Delivered notifications; `level` ERROR|WARNING|INFO, `state` firing|resolved. */
  pcs_alerts_sent_total: ['level', 'state'],
} as const satisfies Record<string, readonly string[]>;

export type CounterName = keyof typeof METRIC_COUNTERS;
export type CounterLabels<N extends CounterName> = Record<(typeof METRIC_COUNTERS)[N][number], string>;

export const SYNC_OUTCOMES = ['created', 'updated', 'adopted', 'unchanged', 'warning', 'failed'] as const;

type Queryable = Pick<EntityManager, 'query'>;

const SAFE = /^[A-Za-z0-9_.-]{1,40}$/;

/** The stored form of a label set: `key=value,…` in the metric's label order. */
export function labelsKey<N extends CounterName>(name: N, labels: CounterLabels<N>): string {
  return METRIC_COUNTERS[name]
    .map((k: string) => {
      const v = String((labels as Record<string, string>)[k] ?? '');
      return `${k}=${SAFE.test(v) ? v : 'other'}`;
    })
    .join(',');
}

/** The label set of a stored key; undefined when it is not one of this metric's. */
export function parseLabels(name: CounterName, key: string): Record<string, string> | undefined {
  const names: readonly string[] = METRIC_COUNTERS[name];
  const out: Record<string, string> = {};
  for (const part of key.split(',')) {
    const i = part.indexOf('=');
    if (i < 1) return undefined;
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  const keys = Object.keys(out);
  return keys.length === names.length && names.every((k) => k in out) ? out : undefined;
}

/**
 * Adds to counters, inside the caller's transaction. Rows in a fixed order (so two transactions
 * adding to the same counters never deadlock); zeros are left out.
 */
export async function addToCounters<N extends CounterName>(
  m: Queryable,
  name: N,
  increments: readonly { labels: CounterLabels<N>; value: number }[],
): Promise<void> {
  const byKey = new Map<string, number>();
  for (const { labels, value } of increments) {
    if (!(value > 0)) continue;
    const key = labelsKey(name, labels);
    byKey.set(key, (byKey.get(key) ?? 0) + Math.floor(value));
  }
  const rows = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!rows.length) return;
  await m.query(
    `INSERT INTO metric_counters (name, labels, value) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')}
     ON DUPLICATE KEY UPDATE value = value + VALUES(value)`,
    rows.flatMap(([key, value]) => [name, key, value]),
  );
}

/** The `mode` label of a sync run: a webhook's (or an operator's) run of one organization is `targeted`. */
export function syncModeLabel(mode: string): string {
  return mode === 'webhook' ? 'targeted' : mode;
}

/** Counts a run that just ended (in the transaction of the transition that ended it). */
export async function countRunEnd(
  m: Queryable,
  run: Pick<Run, 'type' | 'mode' | 'status'> & { details?: unknown },
): Promise<void> {
  if (run.status === 'running') return;
  // A dry run (docs/contract.md §2 `sync --dry-run`) synced nothing: it is no sync run of /metrics.
  if (run.type === 'sync' && (run.details as { dryRun?: unknown } | null | undefined)?.dryRun === true) return;
  if (run.type === 'sync')
    await addToCounters(m, 'pcs_sync_runs_total', [
      { labels: { mode: syncModeLabel(run.mode), status: run.status }, value: 1 },
    ]);
  else await addToCounters(m, 'pcs_cleanup_runs_total', [{ labels: { mode: run.mode, status: run.status }, value: 1 }]);
}

/** Counts the records of a sync run newly recorded (in the transaction that records them). */
export async function countSyncRecords(m: Queryable, records: readonly OutcomeRecord[]): Promise<void> {
  const tally = new Map<string, number>();
  for (const r of records) {
    const outcome = r.warning ? 'warning' : r.action;
    if ((SYNC_OUTCOMES as readonly string[]).includes(outcome)) tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
  }
  await addToCounters(
    m,
    'pcs_sync_records_total',
    [...tally].map(([outcome, value]) => ({ labels: { outcome }, value })),
  );
}

/** Counts a delivered notification. */
export async function countAlertSent(m: Queryable, alert: { level: string; state: string }): Promise<void> {
  await addToCounters(m, 'pcs_alerts_sent_total', [{ labels: { level: alert.level, state: alert.state }, value: 1 }]);
}

export interface CounterValue {
  name: CounterName;
  labels: Record<string, string>;
  value: number;
}

/** Every counter: a handful of rows. A row not of a known metric and label set is left out. */
export async function readCounters(m: Queryable): Promise<CounterValue[]> {
  const rows = (await m.query('SELECT name, labels, value FROM metric_counters')) as {
    name: string;
    labels: string;
    value: string | number;
  }[];
  const out: CounterValue[] = [];
  for (const r of rows) {
    if (!Object.hasOwn(METRIC_COUNTERS, r.name)) continue;
    const name = r.name as CounterName;
    const labels = parseLabels(name, r.labels);
    if (labels) out.push({ name, labels, value: Number(r.value) });
  }
  return out;
}
