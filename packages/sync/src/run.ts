import type { Redis } from 'ioredis';
import type { ChatwootClient } from '@pcs/chatwoot';
import type { Config } from '@pcs/config';
import {
  In,
  MoreThanOrEqual,
  OrganizationEntity,
  RecordOutcomeEntity,
  RunEntity,
  type DataSource,
  type Organization,
  type Run,
} from '@pcs/db';
import { isApiError } from '@pcs/http';
import type { Logger } from '@pcs/logger';
import { resolveCustomerLabel, resolveFieldKey, type PdOrganization, type PipedriveClient } from '@pcs/pipedrive';
import { identifierOf, pipedriveWebOrigin } from './contact.js';
import { beginExclusiveRun } from './exclusive.js';
import {
  knownCustomers,
  loadOrganizations,
  loadPersonsByOrg,
  markUnseenOrganizations,
  removeUnseenPersons,
  replacePersonsOfOrg,
  upsertOrganizations,
  upsertPersons,
} from './mirror.js';
import { ensureTarget, targetKey, targetOf } from './target.js';
import { upsertOrganization, type KnownContact, type UpsertResult } from './upsert.js';

/**
 * A sync run: one streamed listing of Pipedrive (full, or changes since the last complete
 * listing), fanned out as upsert batches of BATCH_SIZE organizations that any worker can take.
 * The run ends when its listing is complete and every batch has ended; a listing that breaks
 * midway fails the run. One run at a time per deployment.
 */

/** Overlap subtracted from the last listing's start: Pipedrive's updated_since has second resolution. */
export const INCREMENTAL_OVERLAP_MS = 5 * 60_000;
/** An incremental run turns full when the last complete full listing is older than this (deletions, lost persons). */
export const FULL_LISTING_MAX_AGE_MS = 24 * 3_600_000;

export interface SyncDeps {
  config: Config;
  ds: DataSource;
  pipedrive: PipedriveClient;
  chatwoot: ChatwootClient;
  redis: Redis;
  log: Logger;
  enqueueBatch: (data: { runId: string; batch: number; orgIds: number[] }) => Promise<unknown>;
  /** The cleanup.log channel (every change a line); the main log when absent. */
  cleanupLog?: Logger;
  /** Told when a run ends (succeeded, partial, failed, refused): the alert rules listen here. */
  onRunEnded?: (run: Run) => Promise<void>;
  now?: () => Date;
}

export interface RunDetails {
  customerLabelId?: number;
  phoneFieldKey?: string;
  supportLinkFieldKey?: string;
  legacyLookup: boolean;
  /** The sync target the run listed for (see ensureTarget). */
  target?: string;
  since?: string;
  requestedMode: string;
  /** Full runs: persons from the whole listing, or fetched per organization by the batches. */
  personsMode?: 'listing' | 'per-org';
  /** What this run's listing cost, for the next run's choice of personsMode. */
  personPages?: number;
  customers?: number;
  [key: string]: unknown;
}

export class RunFailedError extends Error {
  constructor(
    message: string,
    readonly errorType: string,
    readonly runId: string,
  ) {
    super(message);
    this.name = 'RunFailedError';
  }
}

/** The alert error type of a failure (seed guide / INTERFACE.md §6). */
export function alertErrorType(err: unknown): string {
  if (isApiError(err)) {
    if (err.type === 'auth' || err.type === 'forbidden') return 'auth issue';
    if (err.type === 'bad_data') return 'data mismatch';
    return 'API failure';
  }
  const msg = (err as Error)?.message ?? '';
  if (/ECONNREFUSED|ER_|database|mysql|Connection lost/i.test(msg)) return 'database connection failure';
  return 'system error';
}

export type StartResult =
  { run: Run; skipped: false; blocked?: undefined } | { run: Run; skipped: true; blocked?: boolean };

/**
 * Creates the run row, unless another sync run of this deployment is still running (that run
 * is returned with `skipped: true`; a CLI `--wait` follows it instead) or a cleanup run is
 * (`blocked: true`: the job tries again later). A retried job resumes its own run.
 */
export async function beginRun(
  deps: SyncDeps,
  opts: { mode: 'full' | 'incremental'; trigger: string; runId?: string },
): Promise<StartResult> {
  const r = await beginExclusiveRun(
    deps.ds,
    deps.config.database.database,
    {
      type: 'sync',
      mode: opts.mode,
      trigger: opts.trigger,
      runId: opts.runId,
      details: { requestedMode: opts.mode, legacyLookup: true },
    },
    deps.now?.() ?? new Date(),
  );
  if (r.state === 'started') return { run: r.run, skipped: false };
  if (r.state === 'resumed')
    return r.run.status === 'running' && !r.run.listingComplete
      ? { run: r.run, skipped: false }
      : { run: r.run, skipped: true };
  return { run: r.run, skipped: true, blocked: r.state === 'blocked' };
}

/** The mode a run really takes: full on the first run ever, when asked, or when the last full listing is too old. */
async function decideMode(
  deps: SyncDeps,
  requested: 'full' | 'incremental',
  now: Date,
  targetSince: Date,
): Promise<{ mode: 'full' | 'incremental'; since?: Date }> {
  if (requested === 'full') return { mode: 'full' };
  const runs = deps.ds.getRepository(RunEntity);
  // Only real listings count (a webhook upsert of one organization says nothing about the
  // others), and only listings of the current target (see ensureTarget).
  const lastComplete = await runs.findOne({
    where: {
      type: 'sync',
      mode: In(['full', 'incremental']),
      listingComplete: true,
      listingStartedAt: MoreThanOrEqual(targetSince),
      status: In(['succeeded', 'partial']),
    },
    order: { listingStartedAt: 'DESC' },
  });
  const lastFull = await runs.findOne({
    where: {
      type: 'sync',
      mode: 'full',
      listingComplete: true,
      listingStartedAt: MoreThanOrEqual(targetSince),
      status: In(['succeeded', 'partial']),
    },
    order: { listingStartedAt: 'DESC' },
  });
  if (
    !lastComplete?.listingStartedAt ||
    !lastFull?.listingStartedAt ||
    now.getTime() - lastFull.listingStartedAt.getTime() > FULL_LISTING_MAX_AGE_MS
  )
    return { mode: 'full' };
  return { mode: 'incremental', since: new Date(lastComplete.listingStartedAt.getTime() - INCREMENTAL_OVERLAP_MS) };
}

const DEFINITIONS = [
  {
    key: 'pipedrive_org_id',
    displayName: 'Pipedrive Org ID',
    displayType: 'number' as const,
    description: 'Synced from Pipedrive',
  },
  {
    key: 'status',
    displayName: 'Status',
    displayType: 'text' as const,
    description: 'Customer or Former customer (Pipedrive sync)',
  },
  { key: 'type', displayName: 'Type', displayType: 'text' as const, description: 'Synced from Pipedrive' },
  {
    key: 'pipedrive_url',
    displayName: 'Pipedrive',
    displayType: 'link' as const,
    description: 'The organization in Pipedrive',
  },
  {
    key: 'support_link',
    displayName: 'Support link',
    displayType: 'link' as const,
    description: 'Synced from Pipedrive',
  },
];

/**
 * Chatwoot filters on a custom attribute only when the account defines it: create the
 * definitions once per account (remembered in Redis), not on every run. Returns whether the
 * lookup of the original deployment's contacts (by pipedrive_org_id) is possible.
 */
export async function ensureDefinitions(
  deps: Pick<SyncDeps, 'config' | 'redis' | 'chatwoot' | 'log'>,
): Promise<boolean> {
  const key = `${deps.config.redis.prefix}:chatwoot:definitions:${targetOf(deps.config).chatwoot}`;
  const known = await deps.redis.get(key);
  if (known === 'ok') return true;
  if (known === 'missing') return false;
  try {
    const created = await deps.chatwoot.ensureAttributeDefinitions(DEFINITIONS);
    if (created.length) deps.log.info({ created }, 'created Chatwoot contact attribute definitions');
    await deps.redis.set(key, 'ok');
    return true;
  } catch (err) {
    if (!isApiError(err, 'forbidden')) throw err;
    const defs = await deps.chatwoot.listAttributeDefinitions().catch(() => []);
    const ok = defs.some((d) => d.key === 'pipedrive_org_id');
    deps.log.warn(
      { err },
      ok
        ? 'Chatwoot token may not create attribute definitions; pipedrive_org_id exists already'
        : 'Chatwoot token may not create attribute definitions (needs an administrator): contacts of the original deployment cannot be found by pipedrive_org_id and will not be adopted',
    );
    await deps.redis.set(key, ok ? 'ok' : 'missing', 'EX', 3600);
    return ok;
  }
}

export async function resolveRunDetails(deps: SyncDeps, requestedMode: string): Promise<RunDetails> {
  const { pipedrive: p } = deps.config;
  const fields = await deps.pipedrive.organizationFields();
  return {
    requestedMode,
    customerLabelId: p.customerFilterId ? undefined : resolveCustomerLabel(fields, p.customerLabel),
    phoneFieldKey: p.phoneField ? resolveFieldKey(fields, p.phoneField) : undefined,
    supportLinkFieldKey: p.supportLinkField ? resolveFieldKey(fields, p.supportLinkField) : undefined,
    legacyLookup: await ensureDefinitions(deps),
  };
}

async function choosePersonsMode(deps: SyncDeps): Promise<'listing' | 'per-org'> {
  const last = await deps.ds
    .getRepository(RunEntity)
    .findOne({ where: { type: 'sync', mode: 'full', listingComplete: true }, order: { listingStartedAt: 'DESC' } });
  const d = (last?.details ?? {}) as RunDetails;
  if (typeof d.personPages === 'number' && typeof d.customers === 'number' && d.customers < d.personPages)
    return 'per-org';
  return 'listing';
}

export function isCustomerOrg(org: PdOrganization, details: RunDetails, viaFilter: boolean): boolean {
  if (org.isDeleted) return false;
  return viaFilter || (details.customerLabelId !== undefined && org.labelIds.includes(details.customerLabelId));
}

/**
 * The listing part of a run: persons, then organizations page by page, each page's customers
 * sent off as upsert batches as soon as BATCH_SIZE of them are known.
 */
export async function listRun(deps: SyncDeps, run: Run): Promise<void> {
  const { ds, config, log } = deps;
  const runs = ds.getRepository(RunEntity);
  const now = deps.now?.() ?? new Date();
  let batch = 0;
  const pending: number[] = [];
  const queued = new Set<number>();
  const flush = async (all: boolean) => {
    while (pending.length >= config.batchSize || (all && pending.length)) {
      const orgIds = pending.splice(0, config.batchSize);
      await deps.enqueueBatch({ runId: run.id, batch, orgIds });
      batch += 1;
    }
  };
  const add = async (ids: Iterable<number>) => {
    for (const id of ids) {
      if (queued.has(id)) continue;
      queued.add(id);
      pending.push(id);
    }
    await flush(false);
  };

  try {
    // Another Pipedrive or Chatwoot than the stored data belongs to: forget it, list everything.
    const target = await ensureTarget(ds, config, log, now);
    const listedFor = (run.details as RunDetails | null)?.target;
    if (listedFor && listedFor !== target.key)
      throw new Error(
        `the sync target changed since this run began listing (${listedFor} → ${target.key}); the next run lists the new account`,
      );
    const { mode, since } = await decideMode(deps, run.mode === 'full' ? 'full' : 'incremental', now, target.since);
    const details = await resolveRunDetails(deps, run.mode);
    details.target = target.key;
    if (since) details.since = since.toISOString();
    if (target.changed) details.targetChanged = target.changed;
    await runs.update({ id: run.id }, { mode, listingStartedAt: now, details: details as never });
    run.mode = mode;
    log.info({ runId: run.id, mode, since, trigger: run.trigger }, 'sync run listing Pipedrive');
    const full = mode === 'full';
    const viaFilter = Boolean(config.pipedrive.customerFilterId);

    // 1. Persons first, so that batches find every organization's persons in the mirror. A full
    // run takes whichever costs fewer requests: the whole persons listing, or one request per
    // customer (when customers are few next to the account's persons, judged by the last full run).
    details.personsMode = full ? await choosePersonsMode(deps) : 'listing';
    await runs.update({ id: run.id }, { details: details as never });
    const touched = new Set<number>();
    let personPages = 0;
    if (details.personsMode === 'listing') {
      for await (const page of deps.pipedrive.personPages(full ? {} : { updatedSince: since })) {
        personPages += 1;
        const orgs = await upsertPersons(ds, page, full ? run.id : null);
        // A full run upserts every customer anyway; only an incremental one follows persons to their orgs.
        if (!full) for (const id of orgs) touched.add(id);
      }
      if (full) for (const id of await removeUnseenPersons(ds, run.id)) touched.add(id);
    }

    // 2. Organizations, streamed; customers go out in batches.
    const seenOrgs = new Set<number>();
    for await (const page of deps.pipedrive.organizationPages({
      updatedSince: full ? undefined : since,
      filterId: config.pipedrive.customerFilterId,
    })) {
      await upsertOrganizations(
        ds,
        page.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, viaFilter) })),
        full ? run.id : null,
      );
      for (const org of page) seenOrgs.add(org.id);
      await add(page.filter((org) => isCustomerOrg(org, details, viaFilter)).map((o) => o.id));
    }
    if (full) {
      const gone = await markUnseenOrganizations(ds, run.id, !viaFilter);
      if (gone) log.info({ runId: run.id, count: gone }, 'organizations no longer listed: marked as not customers');
    } else {
      // A person's change is a change of its organization, even when the org itself did not change.
      const extra = [...touched].filter((id) => !seenOrgs.has(id));
      const { known, customers } = await knownCustomers(ds, extra);
      // Organizations the mirror does not know yet. With a customer filter, membership is only
      // known from the filter's own listing (Pipedrive ignores ids when filter_id is set), so
      // those wait for the next full run.
      const unknown = viaFilter ? [] : extra.filter((id) => !known.has(id));
      for (let i = 0; i < unknown.length; i += 100) {
        const { items } = await deps.pipedrive.listOrganizations({ ids: unknown.slice(i, i + 100) });
        await upsertOrganizations(
          ds,
          items.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, false) })),
          null,
        );
        customers.push(...items.filter((org) => isCustomerOrg(org, details, false)).map((o) => o.id));
      }
      await add(customers);
      // Customers that failed (or were never written) in earlier runs are tried again now, not
      // only when Pipedrive lists them as changed.
      const retry = (await ds.query(
        "SELECT id FROM organizations WHERE is_customer = 1 AND is_deleted = 0 AND sync_state IN ('failed', 'pending')",
      )) as { id: string }[];
      await add(retry.map((r) => Number(r.id)));
    }
    if (full) {
      // Customers whose contact content may have changed through a removed person.
      const { customers } = await knownCustomers(
        ds,
        [...touched].filter((id) => !queued.has(id)),
      );
      await add(customers);
    }
    await flush(true);
    if (full)
      Object.assign(details, {
        personPages: details.personsMode === 'listing' ? personPages : undefined,
        customers: queued.size,
      });
    await runs.update({ id: run.id }, { batchesTotal: batch, listingComplete: true, details: details as never });
    log.info({ runId: run.id, batches: batch, organizations: queued.size }, 'sync run listing complete');
  } catch (err) {
    const errorType = alertErrorType(err);
    const message = `listing failed: ${(err as Error).message}`.slice(0, 1000);
    await runs.update(
      { id: run.id, status: 'running' },
      {
        status: 'failed',
        finishedAt: deps.now?.() ?? new Date(),
        errorType,
        errorMessage: message,
        batchesTotal: batch,
      },
    );
    log.error(
      { runId: run.id, err, errorType },
      'sync run failed: the Pipedrive listing broke, nothing is reported as synced',
    );
    await notifyEnded(deps, await runs.findOneBy({ id: run.id }));
    throw new RunFailedError(message, errorType, run.id);
  }
  await finalizeIfDone(deps, run.id);
}

export interface BatchResult {
  runId: string;
  batch: number;
  processed: number;
  skipped: number;
  counts: Record<string, number>;
}

/**
 * One upsert batch. Idempotent: organizations that already have an outcome in this run (a batch
 * interrupted by a crash or a rate limit and run again) are not done twice.
 */
export async function processBatch(
  deps: SyncDeps,
  data: { runId: string; batch: number; orgIds: number[] },
): Promise<BatchResult> {
  const { ds } = deps;
  const run = await ds.getRepository(RunEntity).findOneBy({ id: data.runId });
  if (!run) throw new Error(`run ${data.runId} does not exist`);
  const done = new Set(
    (
      await ds
        .getRepository(RecordOutcomeEntity)
        .find({ select: { orgId: true }, where: { runId: data.runId, orgId: In(data.orgIds) } })
    ).map((o) => o.orgId),
  );
  const todo = data.orgIds.filter((id) => !done.has(id));
  const details = (run.details ?? { legacyLookup: true }) as RunDetails;
  // A run listed for another Pipedrive or Chatwoot than this worker is configured for (the
  // configuration changed while it ran): its stored contact ids mean nothing here, so it ends
  // without another write. A comparison with the configuration: no database work per batch.
  if (details.target && details.target !== targetKey(deps.config)) {
    const res = await ds.getRepository(RunEntity).update(
      { id: data.runId, status: 'running' },
      {
        status: 'failed',
        finishedAt: new Date(),
        errorType: 'system error',
        errorMessage:
          'the sync target (Pipedrive or Chatwoot account) changed while this run was in progress: its remaining batches were dropped; the next run lists the new account',
      },
    );
    if (res.affected) await notifyEnded(deps, await ds.getRepository(RunEntity).findOneBy({ id: data.runId }));
    deps.log.warn({ runId: data.runId, batch: data.batch }, 'batch of a run for another sync target dropped');
    return { runId: data.runId, batch: data.batch, processed: 0, skipped: done.size, counts: {} };
  }
  if (details.personsMode === 'per-org' && run.mode === 'full') {
    for (const orgId of todo) {
      const list = [];
      for await (const page of deps.pipedrive.personPages({ orgId })) list.push(...page);
      await replacePersonsOfOrg(ds, orgId, list);
    }
  }
  const orgs = await loadOrganizations(ds, todo);
  const persons = await loadPersonsByOrg(ds, todo);
  const ctx = {
    chatwoot: deps.chatwoot,
    inboxId: deps.config.chatwoot.inboxId,
    legacyLookup: details.legacyLookup !== false,
    mapping: {
      phoneFieldKey: details.phoneFieldKey,
      supportLinkFieldKey: details.supportLinkFieldKey,
      defaultCountry: deps.config.defaultCountry,
      pipedriveWebOrigin: pipedriveWebOrigin(deps.config.pipedrive.baseUrl),
    },
  };
  const results: UpsertResult[] = [];
  let stop: unknown;
  let known = new Map<number, KnownContact>();
  try {
    known = await lookupContacts(
      deps,
      data.runId,
      orgs.filter((o) => o.isCustomer && !o.isDeleted && !o.chatwootContactId),
      ctx.legacyLookup,
    );
  } catch (err) {
    if (isApiError(err, 'rate_limit') || isApiError(err, 'auth')) throw err;
    // Looked up one by one below instead.
  }
  for (const org of orgs.sort((a, b) => a.id - b.id)) {
    if (!org.isCustomer || org.isDeleted) continue;
    try {
      results.push(
        await upsertOrganization(ctx, org, persons.get(org.id) ?? [], deps.now?.() ?? new Date(), known.get(org.id)),
      );
    } catch (err) {
      // Rate limits and auth failures stop the batch (after saving what was done).
      stop = err;
      if (isApiError(err, 'auth')) {
        results.push({
          orgId: org.id,
          action: 'failed',
          errorType: 'auth',
          message: (err as Error).message,
          row: { syncState: 'failed', lastErrorType: 'auth', lastError: (err as Error).message },
        });
      }
      break;
    }
  }
  // Outcomes, organization rows and the run's counters in one transaction: a crash leaves
  // either all of this batch's progress or none of it, and a re-run skips what was saved.
  const counts = await commitResults(deps, data.runId, results, stop ? false : data.batch);
  for (const r of results) {
    if (r.action === 'failed')
      deps.log.warn(
        { runId: data.runId, orgId: r.orgId, errorType: r.errorType },
        `organization ${r.orgId} failed: ${r.message}`,
      );
    else if (r.warning)
      deps.log.warn(
        { runId: data.runId, orgId: r.orgId, action: r.action },
        `organization ${r.orgId} ${r.action} with a value left off: ${r.warning}`,
      );
  }
  if (stop) {
    if (isApiError(stop, 'auth')) {
      await ds.getRepository(RunEntity).update(
        { id: data.runId, status: 'running' },
        {
          status: 'failed',
          finishedAt: new Date(),
          errorType: 'auth issue',
          errorMessage: (stop as Error).message.slice(0, 1000),
        },
      );
    }
    throw stop;
  }
  await finalizeIfDone(deps, data.runId);
  return { runId: data.runId, batch: data.batch, processed: results.length, skipped: done.size, counts };
}

/**
 * A batch that failed for good (auth, or out of attempts): its organizations that have no outcome
 * yet are recorded as failed, the batch counts as ended, and an auth failure fails the run, so
 * the run ends instead of blocking every later run.
 */
export async function abandonBatch(
  deps: SyncDeps,
  data: { runId: string; batch: number; orgIds: number[] },
  err: unknown,
): Promise<void> {
  const { ds } = deps;
  const done = new Set(
    (
      await ds
        .getRepository(RecordOutcomeEntity)
        .find({ select: { orgId: true }, where: { runId: data.runId, orgId: In(data.orgIds) } })
    ).map((o) => o.orgId),
  );
  const type = isApiError(err) ? err.type : 'system';
  const message = `batch failed: ${(err as Error).message}`.slice(0, 1000);
  const now = deps.now?.() ?? new Date();
  const results: UpsertResult[] = data.orgIds
    .filter((id) => !done.has(id))
    .map((orgId) => ({
      orgId,
      action: 'failed',
      errorType: type,
      message,
      row: { syncState: 'failed', lastAttemptAt: now, lastErrorType: type, lastError: message },
    }));
  await commitResults(deps, data.runId, results, data.batch);
  if (isApiError(err, 'auth') || isApiError(err, 'forbidden')) {
    const res = await ds.getRepository(RunEntity).update(
      { id: data.runId, status: 'running' },
      {
        status: 'failed',
        finishedAt: now,
        errorType: 'auth issue',
        errorMessage: (err as Error).message.slice(0, 1000),
      },
    );
    if (res.affected) await notifyEnded(deps, await ds.getRepository(RunEntity).findOneBy({ id: data.runId }));
  }
  deps.log.error(
    { runId: data.runId, batch: data.batch, orgs: results.length, errorType: type, err },
    'batch failed for good: its organizations are recorded as failed',
  );
  await finalizeIfDone(deps, data.runId);
}

/** OR-chained conditions per filter request. */
const LOOKUP_CHUNK = 50;

/**
 * Finds, in few requests, the Chatwoot contacts of a batch's organizations that have no stored
 * contact id: one filter per 50 organizations on the identifier, then, only while Chatwoot holds
 * contacts the database does not know (the original deployment's), one on pipedrive_org_id.
 * Every organization looked up gets an entry: the contact, or null (create it).
 */
export async function lookupContacts(
  deps: SyncDeps,
  runId: string,
  orgs: Organization[],
  legacyLookup: boolean,
): Promise<Map<number, KnownContact>> {
  const known = new Map<number, KnownContact>();
  if (!orgs.length) return known;
  for (let i = 0; i < orgs.length; i += LOOKUP_CHUNK) {
    const part = orgs.slice(i, i + LOOKUP_CHUNK);
    const found = await deps.chatwoot.filterAllContacts(
      part.map((o) => ({
        attributeKey: 'identifier',
        operator: 'equal_to' as const,
        value: identifierOf(o.id),
        queryOperator: 'OR' as const,
      })),
    );
    const byIdentifier = new Map(found.filter((c) => c.identifier).map((c) => [c.identifier!, c]));
    for (const o of part) {
      const c = byIdentifier.get(identifierOf(o.id));
      known.set(o.id, c ? { contactId: c.id, adopted: false } : null);
    }
  }
  const rest = orgs.filter((o) => known.get(o.id) === null);
  if (rest.length && legacyLookup && (await legacyContactsExist(deps, runId))) {
    for (let i = 0; i < rest.length; i += LOOKUP_CHUNK) {
      const part = rest.slice(i, i + LOOKUP_CHUNK);
      const found = await deps.chatwoot.filterAllContacts(
        part.map((o) => ({
          attributeKey: 'pipedrive_org_id',
          operator: 'equal_to' as const,
          value: o.id,
          queryOperator: 'OR' as const,
        })),
      );
      for (const c of found.sort((a, b) => a.id - b.id)) {
        const orgId = Number(c.customAttributes.pipedrive_org_id);
        // A contact that carries another organization's identifier is not this one's to adopt.
        if (c.identifier && c.identifier !== identifierOf(orgId)) continue;
        if (known.get(orgId) === null) known.set(orgId, { contactId: c.id, adopted: true });
      }
    }
  }
  return known;
}

/**
 * Whether Chatwoot holds contacts with a pipedrive_org_id that the database does not know (made
 * by the original deployment, or by a database restored from an old backup). Asked once per run.
 */
async function legacyContactsExist(deps: SyncDeps, runId: string): Promise<boolean> {
  const key = `${deps.config.redis.prefix}:run:${runId}:legacy`;
  const cached = await deps.redis.get(key);
  if (cached !== null) return cached === '1';
  const { count } = await deps.chatwoot.filterContacts(
    [{ attributeKey: 'pipedrive_org_id', operator: 'is_greater_than', value: 0 }],
    1,
  );
  const rows = (await deps.ds.query(
    'SELECT COUNT(*) AS n FROM organizations WHERE chatwoot_contact_id IS NOT NULL',
  )) as { n: string | number }[];
  const exist = count > Number(rows[0]?.n ?? 0);
  await deps.redis.set(key, exist ? '1' : '0', 'EX', 86_400);
  return exist;
}

export function countResults(results: UpsertResult[]): Record<string, number> {
  const c: Record<string, number> = { created: 0, updated: 0, unchanged: 0, adopted: 0, failed: 0, warnings: 0 };
  for (const r of results) {
    c[r.action] = (c[r.action] ?? 0) + 1;
    if (r.warning) c.warnings! += 1;
  }
  return c;
}

/** Saves a batch's outcomes and organization rows and adds its counts to the run, atomically. */
export async function commitResults(
  deps: Pick<SyncDeps, 'ds' | 'now'>,
  runId: string,
  results: UpsertResult[],
  batchDone: number | false,
): Promise<Record<string, number>> {
  const c = countResults(results);
  const processed = c.created! + c.updated! + c.unchanged! + c.adopted! + c.failed!;
  const now = deps.now?.() ?? new Date();
  await deps.ds.transaction(async (m) => {
    if (results.length) {
      await m.getRepository(RecordOutcomeEntity).insert(
        results.map((r) => ({
          runId,
          orgId: r.orgId,
          outcome: r.warning ? 'warning' : r.action,
          errorType: r.errorType ?? (r.warning ? 'bad_data' : null),
          message: (r.message ?? r.warning ?? null)?.slice(0, 1000) ?? null,
          createdAt: now,
        })),
      );
      for (const r of results) {
        if (Object.keys(r.row).length)
          await m.getRepository(OrganizationEntity).update({ id: r.orgId }, r.row as Partial<Organization> as never);
      }
    }
    // A batch ends once: a second end of the same batch (a re-run after a crash) adds nothing.
    let ended = 0;
    if (batchDone !== false) {
      const res = (await m.query('INSERT IGNORE INTO run_batches (run_id, batch, ended_at) VALUES (?, ?, ?)', [
        runId,
        batchDone,
        now,
      ])) as { affectedRows?: number };
      ended = res.affectedRows ? 1 : 0;
    }
    await m.query(
      `UPDATE runs SET processed = processed + ?, created = created + ?, updated = updated + ?, unchanged = unchanged + ?, adopted = adopted + ?,
         failed = failed + ?, warnings = warnings + ?, batches_done = batches_done + ? WHERE id = ?`,
      [processed, c.created, c.updated, c.unchanged, c.adopted, c.failed, c.warnings, ended, runId],
    );
  });
  return c;
}

/**
 * Ends the run when its listing is complete and every batch has ended. Exactly one caller wins
 * the conditional UPDATE, logs the summary and pings HEALTHCHECK_PING_URL.
 */
export async function finalizeIfDone(deps: SyncDeps, runId: string): Promise<Run | undefined> {
  const res = (await deps.ds.query(
    `UPDATE runs SET status = CASE WHEN failed > 0 OR warnings > 0 THEN 'partial' ELSE 'succeeded' END, finished_at = ?
     WHERE id = ? AND status = 'running' AND listing_complete = 1 AND batches_done >= batches_total`,
    [deps.now?.() ?? new Date(), runId],
  )) as { affectedRows?: number };
  if (!res.affectedRows) return undefined;
  const run = await deps.ds.getRepository(RunEntity).findOneByOrFail({ id: runId });
  deps.log.info(
    {
      runId,
      status: run.status,
      mode: run.mode,
      processed: run.processed,
      created: run.created,
      updated: run.updated,
      unchanged: run.unchanged,
      adopted: run.adopted,
      warnings: run.warnings,
      failed: run.failed,
      durationMs: run.finishedAt!.getTime() - run.startedAt.getTime(),
    },
    `sync run ${run.status}`,
  );
  await pingHealthcheck(deps, run);
  await notifyEnded(deps, run);
  return run;
}

/** Tells the listener a run ended; a failing listener never fails the run. */
export async function notifyEnded(
  deps: Pick<SyncDeps, 'onRunEnded' | 'log'>,
  run: Run | null | undefined,
): Promise<void> {
  if (!run || !deps.onRunEnded) return;
  try {
    await deps.onRunEnded(run);
  } catch (err) {
    deps.log.error({ err, runId: run.id }, 'could not evaluate the alerts of an ended run');
  }
}

async function pingHealthcheck(deps: SyncDeps, run: Run): Promise<void> {
  const url = deps.config.alerts.healthcheckPingUrl;
  if (!url || run.mode === 'webhook') return;
  try {
    const res = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) deps.log.warn({ status: res.status }, 'healthcheck ping answered with an error');
  } catch (err) {
    deps.log.warn({ err }, 'healthcheck ping failed');
  }
}
