import type { Run } from '@pcs/db';
import type { PdPerson } from '@pcs/pipedrive';
import { isRetryable, retryFor } from '@pcs/errors';
import {
  durable,
  outcomeLines,
  progressReporter,
  reportLines,
  RunEndedError,
  RunFailedError,
  type SyncDeps,
} from './deps.js';
import { isCustomerOrg, isDryRun, resolveRunDetails, type RunDetails } from './details.js';
import { runEnded } from './ended.js';
import {
  knownCustomers,
  markUnseenOrganizations,
  removeUnseenPersons,
  retryableCustomers,
  upsertOrganizations,
  upsertPersons,
} from './mirror.js';
import { errorTypeOf, failureOf, type BeginResult } from './runs/index.js';
import { ensureTarget } from './target.js';

/**
 * The listing of a sync run: one streamed listing of Pipedrive (full, or changes since the last
 * complete listing), its customers fanned out as upsert batches of BATCH_SIZE organizations that
 * any worker can take (see batch.ts). A listing that breaks midway fails the run: a sync never
 * reports success after a partial listing. One sync run at a time per deployment.
 */

/** Overlap subtracted from the last listing's start: Pipedrive's updated_since has second resolution. */
export const INCREMENTAL_OVERLAP_MS = 5 * 60_000;
/** An incremental run turns full when the last complete full listing is older than this (deletions, lost persons). */
export const FULL_LISTING_MAX_AGE_MS = 24 * 3_600_000;
/** How often a listing renews its run's lease while it makes progress (the lease lasts minutes). */
const LEASE_RENEW_MS = 5_000;

/**
 * Begins (or resumes) a sync run for a job. `go`: this job lists; otherwise another sync run is in
 * progress (`duplicate`; a CLI `--wait` follows that one) or a cleanup is (`blocked`: try again later).
 */
export async function beginSync(
  deps: SyncDeps,
  opts: { mode: 'full' | 'incremental'; trigger: string; runId?: string; jobId?: string; dryRun?: boolean },
): Promise<{ go: boolean; result: BeginResult }> {
  const result = await deps.runs.begin({
    type: 'sync',
    mode: opts.mode,
    trigger: opts.trigger,
    runId: opts.runId,
    jobId: opts.jobId,
    // A dry run (docs/contract.md §2) is a listing run marked in its details: it excludes other runs
    // as any sync does, but counts for no decision (see runs/history.ts).
    details: { requestedMode: opts.mode, legacyLookup: true, ...(opts.dryRun ? { dryRun: true } : {}) },
  });
  const { state, run } = result;
  const go = state === 'started' || (state === 'resumed' && run.status === 'running' && !run.listingComplete);
  return { go, result };
}

/** The mode a run really takes: full on the first run ever, when asked, or when the last full listing is too old. */
export async function decideMode(
  deps: SyncDeps,
  requested: 'full' | 'incremental',
  targetSince: Date,
): Promise<{ mode: 'full' | 'incremental'; since?: Date }> {
  if (requested === 'full') return { mode: 'full' };
  const [lastComplete, lastFull, now] = await Promise.all([
    deps.runs.lastCompleteListing(targetSince),
    deps.runs.lastCompleteListing(targetSince, { full: true }),
    deps.runs.now(),
  ]);
  if (
    !lastComplete?.listingStartedAt ||
    !lastFull?.listingStartedAt ||
    now.getTime() - lastFull.listingStartedAt.getTime() > FULL_LISTING_MAX_AGE_MS
  )
    return { mode: 'full' };
  return { mode: 'incremental', since: new Date(lastComplete.listingStartedAt.getTime() - INCREMENTAL_OVERLAP_MS) };
}

/**
 * Full runs take whichever costs fewer requests: the whole persons listing, or one request per
 * customer (when customers are few next to the account's persons, judged by the last full run).
 */
async function choosePersonsMode(deps: SyncDeps, targetSince: Date): Promise<'listing' | 'per-org'> {
  const last = await deps.runs.lastCompleteListing(targetSince, { full: true });
  const d = (last?.details ?? {}) as RunDetails;
  if (typeof d.personPages === 'number' && typeof d.customers === 'number' && d.customers < d.personPages)
    return 'per-org';
  return 'listing';
}

/** The least persons in the mirror for a full listing to read them in two halves at once. */
const SPLIT_MIN_PERSONS = 2_000;

/**
 * The median update time of the persons the mirror knows (from the last listing): where a full
 * persons listing splits in two halves of about equal size. Undefined when the mirror knows few.
 * Any split lists every person once; the median only balances the halves.
 */
async function personsSplit(ds: SyncDeps['ds']): Promise<Date | undefined> {
  const [count] = (await ds.query('SELECT COUNT(*) AS n FROM persons WHERE update_time IS NOT NULL')) as {
    n: string | number;
  }[];
  const n = Number(count?.n ?? 0);
  if (n < SPLIT_MIN_PERSONS) return undefined;
  const rows = (await ds.query(
    'SELECT update_time AS t FROM persons WHERE update_time IS NOT NULL ORDER BY update_time LIMIT 1 OFFSET ?',
    [Math.floor(n / 2)],
  )) as { t: Date | string | null }[];
  const t = rows[0]?.t ? new Date(rows[0].t) : undefined;
  return t && !Number.isNaN(t.getTime()) ? t : undefined;
}

/**
 * Batches of customers, numbered in order; each is queued as soon as it is full, once the feeder
 * is open (a batch reads its organizations' persons from the mirror: it waits for the persons listing).
 */
class BatchFeeder {
  private batch = 0;
  private readonly pending: number[] = [];
  readonly queued = new Set<number>();
  private open = false;

  constructor(
    private readonly deps: SyncDeps,
    private readonly runId: string,
  ) {}

  get count(): number {
    return this.batch;
  }

  async add(ids: Iterable<number>): Promise<void> {
    for (const id of ids) {
      if (this.queued.has(id)) continue;
      this.queued.add(id);
      this.pending.push(id);
    }
    await this.flush(false);
  }

  /** From now on batches go out (those already full at once). */
  async start(): Promise<void> {
    this.open = true;
    await this.flush(false);
  }

  /** One flush at a time (the persons listing opens the feeder while the organizations listing adds). */
  private flushing: Promise<void> = Promise.resolve();

  flush(all: boolean): Promise<void> {
    const next = this.flushing.then(() => this.flushNow(all));
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async flushNow(all: boolean): Promise<void> {
    if (!this.open) return;
    const { config } = this.deps;
    while (this.pending.length >= config.batchSize || (all && this.pending.length)) {
      const orgIds = this.pending.slice(0, config.batchSize);
      const data = { runId: this.runId, batch: this.batch, orgIds };
      // A Redis blip must not fail the listing: the enqueue is tried again (same job id, so never twice).
      await retryFor(() => this.deps.enqueueBatch(data), {
        budgetMs: this.deps.retryBudgetMs,
        when: isRetryable,
        onRetry: (err, attempt) => {
          if (attempt === 1)
            this.deps.log.warn({ err, runId: this.runId, batch: this.batch }, 'could not queue a batch: trying again');
        },
      });
      this.pending.splice(0, orgIds.length);
      this.batch += 1;
    }
  }
}

/**
 * The listing of a run: persons, then organizations page by page, each page's customers sent off
 * as upsert batches as soon as BATCH_SIZE of them are known. Fails the run (and throws
 * RunFailedError) when the listing breaks; throws RunEndedError when the run ended under it.
 */
export async function listRun(deps: SyncDeps, run: Run): Promise<void> {
  const { ds, config, log, runs } = deps;
  const feeder = new BatchFeeder(deps, run.id);
  // What Bull Board shows of the listing job (docs/contract.md §4, /admin/queues): pages listed, batches queued.
  const shown = { personPages: 0, pages: 0, orgsListed: 0 };
  const report = progressReporter(deps);
  const listing = (force = false) =>
    report({ phase: 'listing', ...shown, batchesQueued: feeder.count, customersQueued: feeder.queued.size }, force);
  // The listing renews the run's lease (and records the batches queued so far) every few seconds
  // of progress; an ended run (aborted, reaped) stops its listing there.
  let renewedAt = Date.now();
  // (both listings call it: one renewal at a time)
  let renewing: Promise<boolean> | undefined;
  const alive = async (force = false) => {
    if (!renewing && !force && Date.now() - renewedAt < LEASE_RENEW_MS) return;
    renewing ??= runs.progress(run.id, { batchesTotal: feeder.count }).finally(() => {
      renewing = undefined;
    });
    if (!(await renewing)) throw new RunEndedError(run.id);
    renewedAt = Date.now();
  };
  try {
    // Another Pipedrive or Chatwoot than the stored data belongs to: forget it, list everything.
    const target = await durable(deps, () => ensureTarget(ds, config, log));
    const listedFor = (run.details as RunDetails | null)?.target;
    if (listedFor && listedFor !== target.key)
      throw new Error(
        `the sync target changed since this run began listing (${listedFor} → ${target.key}); the next run lists the new account`,
      );
    const { mode, since } = await decideMode(deps, run.mode === 'full' ? 'full' : 'incremental', target.since);
    const dryRun = isDryRun(run);
    const details = await resolveRunDetails(deps, run.mode, { dryRun });
    if (dryRun) details.dryRun = true;
    details.target = target.key;
    if (since) details.since = since.toISOString();
    if (target.changed) details.targetChanged = target.changed;
    const full = mode === 'full';
    details.personsMode = full ? await choosePersonsMode(deps, target.since) : 'listing';
    if (!(await runs.startListing(run.id, { mode, details }))) throw new RunEndedError(run.id);
    log.info({ runId: run.id, mode, since, trigger: run.trigger }, 'sync run listing Pipedrive');
    const viaFilter = Boolean(config.pipedrive.customerFilterId);

    // 1. Persons and organizations listed at once: the client keeps both within Pipedrive's burst
    // limit, each listing reading its next page while the last one is stored, the persons first
    // (the organizations fill the gaps). Batches go out once the persons are in the mirror (a batch
    // reads its organizations' persons there); customers listed before wait in the feeder.
    const touched = new Set<number>();
    let personPages = 0;
    // One listing failing stops the others at their next page.
    let stopped = false;
    const together = async (tasks: Promise<void>[]) => {
      const settled = await Promise.allSettled(
        tasks.map((p) =>
          p.catch((err: unknown) => {
            stopped = true;
            throw err;
          }),
        ),
      );
      // A run that ended under its listing says so, whatever another listing met meanwhile.
      const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const first = failed.find((r) => r.reason instanceof RunEndedError) ?? failed[0];
      if (first) throw first.reason;
    };
    // The persons pages are stored one at a time (two listings' upserts never lock each other).
    let storing: Promise<unknown> = Promise.resolve();
    const store = (page: PdPerson[]) => {
      const done = storing.then(() =>
        durable(deps, () => upsertPersons(ds, page, full ? run.id : null, { touched: !full })),
      );
      storing = done.catch(() => undefined);
      return done;
    };
    const personsListing = async (params: { updatedSince?: Date; updatedUntil?: Date }) => {
      for await (const page of deps.pipedrive.personPages(params)) {
        if (stopped) return;
        personPages += 1;
        shown.personPages = personPages;
        const orgs = await store(page);
        // A full run upserts every customer anyway; only an incremental one follows persons to their orgs.
        if (!full) for (const id of orgs) touched.add(id);
        await alive();
        await listing();
      }
    };
    const listPersons = async () => {
      if (details.personsMode === 'listing') {
        const split = full ? await durable(deps, () => personsSplit(ds)) : undefined;
        if (split) {
          details.personsSplit = split.toISOString();
          // Two halves at once (one cursor listing is bound by its round trip, two fill the burst
          // limit), split at the mirror's median update time; then the persons changed since the
          // listing began, which a change may have moved from one half to the other behind its cursor.
          const from = new Date(Date.now() - INCREMENTAL_OVERLAP_MS);
          await together([personsListing({ updatedUntil: split }), personsListing({ updatedSince: split })]);
          if (!stopped) await personsListing({ updatedSince: from });
        } else await personsListing(full ? {} : { updatedSince: since });
        // A listing stopped by the other's failure saw only part of the persons: none is removed.
        if (stopped) return;
        if (full) for (const id of await durable(deps, () => removeUnseenPersons(ds, run.id))) touched.add(id);
      }
      await feeder.start();
    };

    // 2. Organizations, streamed; customers go out in batches. An incremental run keeps the ids
    // it listed (to tell which touched organizations it has not seen); a full one only counts them.
    const seenOrgs = new Set<number>();
    let orgsListed = 0;
    const listOrganizations = async () => {
      for await (const page of deps.pipedrive.organizationPages(
        { updatedSince: full ? undefined : since, filterId: config.pipedrive.customerFilterId },
        { background: details.personsMode === 'listing' },
      )) {
        if (stopped) return;
        const rows = page.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, viaFilter) }));
        await durable(deps, () => upsertOrganizations(ds, rows, full ? run.id : null));
        if (!full) for (const org of page) seenOrgs.add(org.id);
        orgsListed += page.length;
        await feeder.add(rows.filter((r) => r.isCustomer).map((r) => r.org.id));
        shown.pages += 1;
        shown.orgsListed = orgsListed;
        await alive();
        await listing();
      }
    };
    await together([listPersons(), listOrganizations()]);
    if (full) {
      const gone = await durable(deps, () => markUnseenOrganizations(ds, run.id, !viaFilter));
      if (gone) log.info({ runId: run.id, count: gone }, 'organizations no longer listed: marked as not customers');
    } else {
      // A person's change is a change of its organization, even when the org itself did not change.
      const extra = [...touched].filter((id) => !seenOrgs.has(id));
      const { known, customers } = await durable(deps, () => knownCustomers(ds, extra));
      // Organizations the mirror does not know yet. With a customer filter, membership is only
      // known from the filter's own listing (Pipedrive ignores ids when filter_id is set), so
      // those wait for the next full run.
      const unknown = viaFilter ? [] : extra.filter((id) => !known.has(id));
      for (let i = 0; i < unknown.length; i += 100) {
        const { items } = await deps.pipedrive.listOrganizations({ ids: unknown.slice(i, i + 100) });
        const rows = items.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, false) }));
        await durable(deps, () => upsertOrganizations(ds, rows, null));
        customers.push(...items.filter((org) => isCustomerOrg(org, details, false)).map((o) => o.id));
      }
      await feeder.add(customers);
      // Customers that failed (or were never written) in earlier runs are tried again now, not
      // only when Pipedrive lists them as changed.
      await feeder.add(await durable(deps, () => retryableCustomers(ds)));
    }
    if (full) {
      // Customers whose contact content may have changed through a removed person.
      const rest = [...touched].filter((id) => !feeder.queued.has(id));
      const { customers } = await durable(deps, () => knownCustomers(ds, rest));
      await feeder.add(customers);
    }
    await feeder.flush(true);
    if (full)
      Object.assign(details, {
        personPages: details.personsMode === 'listing' ? personPages : undefined,
        customers: feeder.queued.size,
      });
    if (!(await runs.completeListing(run.id, { batchesTotal: feeder.count, details }))) throw new RunEndedError(run.id);
    log.info({ runId: run.id, batches: feeder.count, organizations: feeder.queued.size }, 'sync run listing complete');
    await report(
      {
        phase: 'listed',
        ...shown,
        batchesQueued: feeder.count,
        customersQueued: feeder.queued.size,
        batchesTotal: feeder.count,
      },
      true,
    );
    await reportLines(deps, [
      `listed (${mode}${dryRun ? ', dry run' : ''}): ${shown.pages} organization page(s) with ${shown.orgsListed} organization(s)` +
        (details.personsMode === 'listing' ? `, ${shown.personPages} person page(s)` : '') +
        `; ${feeder.queued.size} customer(s) queued in ${feeder.count} batch(es)`,
    ]);
  } catch (err) {
    if (err instanceof RunEndedError) {
      log.warn({ runId: run.id }, 'the run ended while it was listing (aborted or reaped): listing stopped');
      throw err;
    }
    const failure = failureOf(err, 'listing failed: ');
    log.error(
      { runId: run.id, err, errorKind: failure.kind },
      'sync run failed: the Pipedrive listing broke, nothing is reported as synced',
    );
    await report({ phase: 'failed', ...shown, batchesQueued: feeder.count }, true);
    await reportLines(deps, [`run ${run.id} failed: ${failure.message}`]);
    await runEnded(deps, await runs.fail(run.id, failure));
    throw new RunFailedError(failure.message, errorTypeOf(failure), run.id);
  }
  const ended = await runs.finishIfDone(run.id);
  // Every batch was done before the listing ended (or there were none): the run ends here.
  if (ended) await reportLines(deps, outcomeLines(`run ${ended.id} ${ended.status}`, ended, []));
  await runEnded(deps, ended);
}
