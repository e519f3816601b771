import {
  In,
  MoreThanOrEqual,
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
const GOOD: RunStatus[] = ['succeeded', 'partial'];

/**
 * The questions about runs, answered in one place: what runs now, the last complete listing, the
 * last successful sync (only runs of the current Pipedrive and Chatwoot count: see targetSince),
 * what the reaper must look at. Read-only; `Runs` (index.ts) adds the transitions.
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
      where: { type, status: 'running', mode: In(type === 'sync' ? LISTING_MODES : ['mark', 'delete', 'dry-run']) },
      order: { startedAt: 'DESC' },
    });
  }

  async isRunning(type: RunType): Promise<boolean> {
    return Boolean(await this.db('read runs', () => this.active(type)));
  }

  /**
   * The newest listing run that completed (succeeded or partial) since `since` (the moment the
   * stored data started belonging to the current Pipedrive and Chatwoot); `full` for full listings only.
   */
  lastCompleteListing(since: Date, opts: { full?: boolean } = {}): Promise<Run | null> {
    return this.db('read runs', () =>
      this.ds.getRepository(RunEntity).findOne({
        where: {
          type: 'sync',
          mode: opts.full ? 'full' : In(LISTING_MODES),
          listingComplete: true,
          listingStartedAt: MoreThanOrEqual(since),
          status: In(GOOD),
        },
        order: { listingStartedAt: 'DESC' },
      }),
    );
  }

  /** The newest full or incremental sync that ended succeeded or partial since `since` (an account switch starts over). */
  lastSuccessfulSync(since: Date): Promise<Run | null> {
    return this.db('read runs', () =>
      this.ds.getRepository(RunEntity).findOne({
        where: { type: 'sync', mode: In(LISTING_MODES), status: In(GOOD), listingStartedAt: MoreThanOrEqual(since) },
        order: { finishedAt: 'DESC' },
      }),
    );
  }

  /** The first full or incremental sync run since `since` (any status), and the last successful one. */
  async syncHistory(since: Date): Promise<{ first: Run | null; lastSuccess: Run | null }> {
    const [first, lastSuccess] = await Promise.all([
      this.ds.getRepository(RunEntity).findOne({
        where: { type: 'sync', mode: In(LISTING_MODES), startedAt: MoreThanOrEqual(since) },
        order: { startedAt: 'ASC' },
      }),
      this.lastSuccessfulSync(since),
    ]);
    return { first, lastSuccess };
  }

  /** The newest ended full or incremental sync runs, newest first (for "failed in a row"). */
  recentEndedSyncs(limit: number): Promise<Run[]> {
    return this.ds.getRepository(RunEntity).find({
      where: { type: 'sync', mode: In(LISTING_MODES), status: In(['succeeded', 'partial', 'failed']) },
      order: { startedAt: 'DESC' },
      take: limit,
    });
  }

  /** The newest run of a type (cleanup: any mode; sync: listing runs). */
  latest(type: RunType): Promise<Run | null> {
    return this.ds.getRepository(RunEntity).findOne({
      where: type === 'sync' ? { type, mode: In(LISTING_MODES) } : { type },
      order: { startedAt: 'DESC' },
    });
  }

  /** Every run in progress (sync, cleanup, targeted), newest first. */
  running(): Promise<Run[]> {
    return this.ds
      .getRepository(RunEntity)
      .find({ where: { status: 'running' }, order: { startedAt: 'DESC' }, take: 100 });
  }

  /** Recent sync and cleanup runs, running ones first (targeted runs only while they run). */
  async recent(limit = 20): Promise<Run[]> {
    const repo = this.ds.getRepository(RunEntity);
    const [running, ended] = await Promise.all([
      this.running(),
      repo.find({
        where: {
          status: In(['succeeded', 'partial', 'failed', 'refused']),
          mode: In([...LISTING_MODES, 'mark', 'delete', 'dry-run']),
        },
        order: { startedAt: 'DESC' },
        take: limit,
      }),
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
