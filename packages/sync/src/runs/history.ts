import {
  In,
  pingDatabase,
  RunEntity,
  withDatabaseRetry,
  type DataSource,
  type Run,
  type RunStatus,
  type RunType,
} from '@pcs/db';
import type { Logger } from '@pcs/logger';

export interface RunsOptions {
  /** How long a transition keeps trying while the database is away (0: fail at once). */
  retryBudgetMs?: number;
  /** How long progress keeps a run's lease (RUN_LEASE_SECONDS by default). */
  leaseSeconds?: number;
  log?: Pick<Logger, 'warn'>;
}

/** Modes of runs that list Pipedrive (a webhook run upserts one organization and says nothing of the others). */
export const LISTING_MODES = ['full', 'incremental'];
/** Modes of cleanup runs. */
export const CLEANUP_MODES = ['mark', 'delete', 'dry-run'];
const GOOD: RunStatus[] = ['succeeded', 'partial'];
/**
 * Not a dry run (docs/contract.md §2 `sync --dry-run`): it listed but wrote nothing, so it is no
 * complete listing, no successful sync and no failure in a row. Filtered within each index range.
 */
const REAL = "JSON_EXTRACT(details, '$.dryRun') IS NULL";
const ENDED: RunStatus[] = ['succeeded', 'partial', 'failed', 'refused'];

/** One `(SELECT … ORDER BY … LIMIT n)` of a union: a condition that reads one index range in order. */
interface Branch {
  where: string;
  params: unknown[];
}

/** A branch per listing mode (`type = 'sync' AND mode = ?`), and optionally per status. */
function listingBranches(
  modes: readonly string[],
  where = '',
  params: unknown[] = [],
  statuses?: readonly RunStatus[],
) {
  const out: Branch[] = [];
  for (const mode of modes)
    for (const status of statuses ?? [undefined])
      out.push({
        where: `type = 'sync' AND mode = ?${status ? ' AND status = ?' : ''}${where ? ` AND ${where}` : ''}`,
        params: [mode, ...(status ? [status] : []), ...params],
      });
  return out;
}

/**
 * The questions about runs, answered in one place: what runs now, the last complete listing, the
 * last successful sync (only runs of the current Pipedrive and Chatwoot count: see targetSince),
 * what the reaper must look at. Read-only; `Runs` (index.ts) adds the transitions.
 *
 * With a year of history (300k runs, most of them targeted) a question that spans several modes
 * or statuses is asked one mode (and status) at a time: each branch reads one index range in
 * order and stops at its first rows (see migrations/1764700000000-HistoryIndexes.ts), and the
 * branches are merged in one statement. A question over `mode IN (…)` instead reads every run
 * of those modes and sorts them (a second and more at 300k runs).
 */
export class RunHistory {
  protected readonly retryBudgetMs: number;

  constructor(
    readonly ds: DataSource,
    protected readonly opts: RunsOptions = {},
  ) {
    this.retryBudgetMs = opts.retryBudgetMs ?? 0;
  }

  /** Runs a database step, trying again while the database is unreachable or busy (within the budget). */
  protected db<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (!this.retryBudgetMs) return fn();
    return withDatabaseRetry(fn, {
      budgetMs: this.retryBudgetMs,
      onRetry: (err, attempt) => {
        if (attempt === 1) this.opts.log?.warn({ err, what }, `database unavailable (${what}): trying again`);
      },
    });
  }

  /** The database clock: every run timestamp comes from it. */
  now(): Promise<Date> {
    return this.db('clock', () => pingDatabase(this.ds));
  }

  get(id: string): Promise<Run | null> {
    return this.db('read run', () => this.ds.getRepository(RunEntity).findOneBy({ id }));
  }

  /** The running sync or cleanup run (targeted runs do not count for exclusion). */
  active(type: RunType): Promise<Run | null> {
    return this.ds.getRepository(RunEntity).findOne({
      where: { type, status: 'running', mode: In(type === 'sync' ? LISTING_MODES : CLEANUP_MODES) },
      order: { startedAt: 'DESC' },
    });
  }

  async isRunning(type: RunType): Promise<boolean> {
    return Boolean(await this.db('read runs', () => this.active(type)));
  }

  /**
   * The runs first in `order` over the branches, each branch read in index order up to `limit`
   * rows, merged in one statement; then those rows, in that order.
   */
  private async firstOf(branches: Branch[], order: { column: string; dir: 'ASC' | 'DESC' }, limit = 1): Promise<Run[]> {
    const { column, dir } = order;
    const n = Math.max(1, Math.floor(limit) || 1);
    const sql = branches
      .map((b) => `(SELECT id, ${column} AS k FROM runs WHERE ${b.where} ORDER BY ${column} ${dir} LIMIT ${n})`)
      .join(' UNION ALL ');
    const rows = (await this.ds.query(
      `${sql} ORDER BY k ${dir} LIMIT ${n}`,
      branches.flatMap((b) => b.params),
    )) as { id: string }[];
    if (!rows.length) return [];
    const found = await this.ds.getRepository(RunEntity).findBy({ id: In(rows.map((r) => r.id)) });
    const byId = new Map(found.map((r) => [r.id, r]));
    return rows.flatMap((r) => byId.get(r.id) ?? []);
  }

  /**
   * The newest listing run that completed (succeeded or partial) since `since` (the moment the
   * stored data started belonging to the current Pipedrive and Chatwoot); `full` for full listings only.
   */
  async lastCompleteListing(since: Date, opts: { full?: boolean } = {}): Promise<Run | null> {
    const modes = opts.full ? ['full'] : LISTING_MODES;
    const branches = listingBranches(
      modes,
      `listing_complete = 1 AND listing_started_at >= ? AND status IN (?, ?) AND ${REAL}`,
      [since, ...GOOD],
    );
    const [run] = await this.db('read runs', () =>
      this.firstOf(branches, { column: 'listing_started_at', dir: 'DESC' }),
    );
    return run ?? null;
  }

  /** The newest full or incremental sync that ended succeeded or partial since `since` (an account switch starts over). */
  async lastSuccessfulSync(since: Date): Promise<Run | null> {
    const branches = listingBranches(LISTING_MODES, `listing_started_at >= ? AND ${REAL}`, [since], GOOD);
    const [run] = await this.db('read runs', () => this.firstOf(branches, { column: 'finished_at', dir: 'DESC' }));
    return run ?? null;
  }

  /** The first full or incremental sync run since `since` (any status). */
  async firstSync(since: Date): Promise<Run | null> {
    const branches = listingBranches(LISTING_MODES, `started_at >= ? AND ${REAL}`, [since]);
    const [run] = await this.firstOf(branches, { column: 'started_at', dir: 'ASC' });
    return run ?? null;
  }

  /** The first full or incremental sync run since `since` (any status), and the last successful one. */
  async syncHistory(since: Date): Promise<{ first: Run | null; lastSuccess: Run | null }> {
    const [first, lastSuccess] = await Promise.all([this.firstSync(since), this.lastSuccessfulSync(since)]);
    return { first, lastSuccess };
  }

  /** The newest ended full or incremental sync runs, newest first (for "failed in a row"). */
  recentEndedSyncs(limit: number): Promise<Run[]> {
    const ended: RunStatus[] = ['succeeded', 'partial', 'failed'];
    const branches = listingBranches(LISTING_MODES, `status IN (?, ?, ?) AND ${REAL}`, ended);
    return this.firstOf(branches, { column: 'started_at', dir: 'DESC' }, limit);
  }

  /** The newest run of a type (cleanup: any mode; sync: listing runs). */
  async latest(type: RunType): Promise<Run | null> {
    if (type === 'cleanup')
      return this.ds.getRepository(RunEntity).findOne({ where: { type }, order: { startedAt: 'DESC' } });
    const [run] = await this.firstOf(listingBranches(LISTING_MODES), { column: 'started_at', dir: 'DESC' });
    return run ?? null;
  }

  /**
   * The ended runs that answer the questions above, whatever their age: the last complete listing
   * (of any mode, and full), the last successful sync (or, while there is none, the first sync:
   * the freshness check measures from it), the latest sync and cleanup, the newest ended syncs
   * ("failed in a row"), all since `since`. The prune keeps them (with every running run), so
   * pruning old history changes no decision, check or status (docs/contract.md §3, RETENTION_DAYS).
   */
  async decisive(since: Date, recentEnded = 3): Promise<Set<string>> {
    const [lastSuccess, ...others] = await Promise.all([
      this.lastSuccessfulSync(since),
      this.lastCompleteListing(since),
      this.lastCompleteListing(since, { full: true }),
      this.latest('sync'),
      this.latest('cleanup'),
      this.recentEndedSyncs(recentEnded),
    ]);
    const first = lastSuccess ? null : await this.firstSync(since);
    return new Set([lastSuccess, first, ...others.flat()].flatMap((r) => (r ? [r.id] : [])));
  }

  /** Every run in progress (sync, cleanup, targeted), newest first. */
  running(): Promise<Run[]> {
    return this.ds
      .getRepository(RunEntity)
      .find({ where: { status: 'running' }, order: { startedAt: 'DESC' }, take: 100 });
  }

  /** Recent sync and cleanup runs, running ones first (targeted runs only while they run). */
  async recent(limit = 20): Promise<Run[]> {
    const status = `status IN (${ENDED.map(() => '?').join(', ')})`;
    const branches = [
      ...listingBranches(LISTING_MODES, status, ENDED),
      ...CLEANUP_MODES.map((mode) => ({
        where: `type = 'cleanup' AND mode = ? AND ${status}`,
        params: [mode, ...ENDED],
      })),
    ];
    const [running, ended] = await Promise.all([
      this.running(),
      this.firstOf(branches, { column: 'started_at', dir: 'DESC' }, limit),
    ]);
    return [...running, ...ended];
  }

  /** Running runs whose lease ran out (or that never had one): the reaper's candidates. */
  async expired(): Promise<Run[]> {
    const rows = (await this.ds.query(
      "SELECT id FROM runs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < UTC_TIMESTAMP(3)) ORDER BY started_at LIMIT 100",
    )) as { id: string }[];
    if (!rows.length) return [];
    return this.ds.getRepository(RunEntity).findBy({ id: In(rows.map((r) => r.id)) });
  }

  /** Ended runs whose alerts were not evaluated yet (a crash between the end and the evaluation). */
  awaitingAlerts(limit = 50): Promise<Run[]> {
    return this.ds.getRepository(RunEntity).find({
      where: { alertsDone: false, status: In(['succeeded', 'partial', 'failed', 'refused']) },
      order: { finishedAt: 'ASC' },
      take: limit,
    });
  }

  /** The batches of a run that have ended. */
  async endedBatches(id: string): Promise<Set<number>> {
    const rows = (await this.ds.query('SELECT batch FROM run_batches WHERE run_id = ?', [id])) as { batch: number }[];
    return new Set(rows.map((r) => Number(r.batch)));
  }
}
