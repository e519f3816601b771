import { RecordOutcomeEntity, In, type Organization } from '@pcs/db';
import { describeError, isKind } from '@pcs/errors';
import { isApiError } from '@pcs/http';
import type { PdPerson } from '@pcs/pipedrive';
import { identifierOf, pipedriveWebOrigin } from './contact.js';
import { cached } from './cache.js';
import { durable, outcomeLines, progressReporter, reportLines, type SyncDeps } from './deps.js';
import { isDryRun, type RunDetails } from './details.js';
import { runEnded } from './ended.js';
import { loadOrganizations, loadPersonsByOrg, replacePersonsOfOrg, saveOrganizationRows } from './mirror.js';
import { failureOf, type Counts } from './runs/index.js';
import { targetKey } from './target.js';
import { upsertOrganization, type KnownContact, type UpsertContext, type UpsertResult } from './upsert.js';

/**
 * One upsert batch of a sync run: up to BATCH_SIZE organizations read from the mirror and written
 * to Chatwoot. Idempotent: organizations that already have an outcome in this run (a batch
 * interrupted by a crash or a rate limit and run again) are not done twice; the run module
 * records each organization's outcome once whatever happens.
 */

export interface BatchData {
  runId: string;
  batch: number;
  orgIds: number[];
}

export interface BatchResult {
  runId: string;
  batch: number;
  processed: number;
  skipped: number;
  counts: Partial<Counts>;
  /** Why nothing was done (the run had ended). */
  dropped?: string;
}

/** The organizations of a batch that have an outcome in the run already. */
async function doneInRun(deps: SyncDeps, data: BatchData): Promise<Set<number>> {
  const rows = await durable(deps, () =>
    deps.ds
      .getRepository(RecordOutcomeEntity)
      .find({ select: { orgId: true }, where: { runId: data.runId, orgId: In(data.orgIds) } }),
  );
  return new Set(rows.map((o) => o.orgId));
}

export function upsertContext(deps: SyncDeps, details: RunDetails): UpsertContext {
  return {
    chatwoot: deps.chatwoot,
    inboxId: deps.config.chatwoot.inboxId,
    legacyLookup: details.legacyLookup !== false,
    dryRun: details.dryRun === true,
    mapping: {
      phoneFieldKey: details.phoneFieldKey,
      supportLinkFieldKey: details.supportLinkFieldKey,
      defaultCountry: deps.config.defaultCountry,
      pipedriveWebOrigin: pipedriveWebOrigin(deps.config.pipedrive.baseUrl),
    },
  };
}

/**
 * Saves upsert results: outcomes, organization rows and the run's counters in one transaction. A
 * dry run (docs/contract.md §2) records its plan as outcomes and the run's counters only: no
 * organization row (hash, contact id, state), nothing added to the counters of /metrics.
 */
export function commitResults(
  deps: SyncDeps,
  runId: string,
  results: UpsertResult[],
  batchDone?: number,
  dryRun = false,
): Promise<Counts> {
  if (dryRun) return deps.runs.recordOutcomes(runId, results, { batchDone, metrics: false });
  return deps.runs.recordOutcomes(runId, results, {
    batchDone,
    alsoWrite: (m, fresh) =>
      saveOrganizationRows(
        m,
        results.filter((r) => fresh.has(r.orgId)),
      ),
  });
}

export async function processBatch(deps: SyncDeps, data: BatchData): Promise<BatchResult> {
  const { ds, runs } = deps;
  const run = await runs.get(data.runId);
  if (!run) throw new Error(`run ${data.runId} does not exist`);
  const none = { runId: data.runId, batch: data.batch, processed: 0, skipped: data.orgIds.length, counts: {} };
  // An aborted or reaped run writes nothing more.
  if (run.status !== 'running') return { ...none, dropped: `run ${run.status}` };
  const details = (run.details ?? { legacyLookup: true }) as RunDetails;
  // A run listed for another Pipedrive or Chatwoot than this worker is configured for (the
  // configuration changed while it ran): its stored contact ids mean nothing here, so it ends
  // without another write. A comparison with the configuration: no database work per batch.
  if (details.target && details.target !== targetKey(deps.config)) {
    const ended = await runs.fail(data.runId, {
      kind: 'config',
      errorType: 'system error',
      message:
        'the sync target (Pipedrive or Chatwoot account) changed while this run was in progress: its remaining batches were dropped; the next run lists the new account',
    });
    await runEnded(deps, ended);
    deps.log.warn({ runId: data.runId, batch: data.batch }, 'batch of a run for another sync target dropped');
    return { ...none, dropped: 'sync target changed' };
  }
  const done = await doneInRun(deps, data);
  const todo = data.orgIds.filter((id) => !done.has(id));
  // What Bull Board shows of the batch job (docs/contract.md §4, /admin/queues): organizations done of total.
  const report = progressReporter(deps);
  const orgsTotal = data.orgIds.length;
  let orgsDone = done.size;
  await report({ orgsDone, orgsTotal }, true);
  if (details.personsMode === 'per-org' && run.mode === 'full') {
    for (const orgId of todo) {
      const list: PdPerson[] = [];
      for await (const page of deps.pipedrive.personPages({ orgId })) list.push(...page);
      await durable(deps, () => replacePersonsOfOrg(ds, orgId, list));
    }
  }
  const orgs = await durable(deps, () => loadOrganizations(ds, todo));
  const persons = await durable(deps, () => loadPersonsByOrg(ds, todo));
  const ctx = upsertContext(deps, details);
  const results: UpsertResult[] = [];
  let stop: unknown;
  let known = new Map<number, KnownContact>();
  try {
    const unknown = orgs.filter((o) => o.isCustomer && !o.isDeleted && !o.chatwootContactId);
    known = await lookupContacts(deps, data.runId, unknown, ctx.legacyLookup);
  } catch (err) {
    if (isApiError(err, 'rate_limit') || isApiError(err, 'auth')) throw err;
    // Looked up one by one below instead.
  }
  // The mirror's own stamps (last written, last tried): the process clock; run state has the database's.
  const now = new Date();
  for (const org of orgs.sort((a, b) => a.id - b.id)) {
    if (!org.isCustomer || org.isDeleted) continue;
    try {
      results.push(await upsertOrganization(ctx, org, persons.get(org.id) ?? [], now, known.get(org.id)));
      orgsDone += 1;
      await report({ orgsDone, orgsTotal });
    } catch (err) {
      // Rate limits and auth failures stop the batch (after saving what was done).
      stop = err;
      if (isApiError(err, 'auth')) {
        const message = (err as Error).message;
        results.push({
          orgId: org.id,
          action: 'failed',
          errorType: 'auth',
          message,
          row: { syncState: 'failed', lastErrorType: 'auth', lastError: message },
        });
      }
      break;
    }
  }
  // Outcomes, organization rows and the run's counters in one transaction: a crash leaves
  // either all of this batch's progress or none of it, and a re-run skips what was saved.
  const counts = await commitResults(deps, data.runId, results, stop ? undefined : data.batch, ctx.dryRun);
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
  const failed = results.filter((r) => r.action === 'failed');
  await reportLines(deps, outcomeLines(`batch ${data.batch} of run ${data.runId}`, counts, failed));
  if (stop) {
    await report({ orgsDone, orgsTotal, stopped: describeError(stop).kind }, true);
    await reportLines(deps, [`batch stopped: ${describeError(stop).message}`]);
    if (isApiError(stop, 'auth')) await runEnded(deps, await runs.fail(data.runId, failureOf(stop)));
    throw stop;
  }
  await report({ orgsDone: orgsTotal, orgsTotal }, true);
  const ended = await runs.finishIfDone(data.runId);
  // The last batch of its run: the run's own totals too.
  if (ended) await reportLines(deps, outcomeLines(`run ${ended.id} ${ended.status}`, ended, []));
  await runEnded(deps, ended);
  return { runId: data.runId, batch: data.batch, processed: results.length, skipped: done.size, counts };
}

/**
 * A batch that failed for good (auth, or out of attempts): its organizations that have no outcome
 * yet are recorded as failed, the batch counts as ended, and an auth failure fails the run, so
 * the run ends instead of blocking every later run. When even this cannot be written (the
 * database is gone), the reaper ends the run once its lease runs out.
 */
export async function abandonBatch(deps: SyncDeps, data: BatchData, err: unknown): Promise<void> {
  const done = await doneInRun(deps, data);
  const { kind } = describeError(err);
  const message = `batch failed: ${(err as Error).message}`.slice(0, 1000);
  const now = await deps.runs.now();
  const results: UpsertResult[] = data.orgIds
    .filter((id) => !done.has(id))
    .map((orgId) => ({
      orgId,
      action: 'failed',
      errorType: kind,
      message,
      row: { syncState: 'failed', lastAttemptAt: now, lastErrorType: kind, lastError: message },
    }));
  const dryRun = isDryRun(await deps.runs.get(data.runId));
  const counts = await commitResults(deps, data.runId, results, data.batch, dryRun);
  await reportLines(deps, outcomeLines(`batch ${data.batch} of run ${data.runId} failed for good`, counts, results));
  if (isKind(err, 'auth', 'forbidden')) await runEnded(deps, await deps.runs.fail(data.runId, failureOf(err)));
  deps.log.error(
    { runId: data.runId, batch: data.batch, orgs: results.length, errorKind: kind, err },
    'batch failed for good: its organizations are recorded as failed',
  );
  await runEnded(deps, await deps.runs.finishIfDone(data.runId));
}

/** OR-chained conditions per filter request. */
const LOOKUP_CHUNK = 50;

/** The contacts whose attribute equals one of the values, in one filter request per 50 values. */
async function filterIn(deps: SyncDeps, attributeKey: string, values: (string | number)[]) {
  const found = [];
  for (let i = 0; i < values.length; i += LOOKUP_CHUNK) {
    const part = values.slice(i, i + LOOKUP_CHUNK);
    found.push(
      ...(await deps.chatwoot.filterAllContacts(
        part.map((value) => ({ attributeKey, operator: 'equal_to' as const, value, queryOperator: 'OR' as const })),
      )),
    );
  }
  return found;
}

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
  const byIdentifier = new Map(
    (
      await filterIn(
        deps,
        'identifier',
        orgs.map((o) => identifierOf(o.id)),
      )
    )
      .filter((c) => c.identifier)
      .map((c) => [c.identifier!, c]),
  );
  for (const o of orgs) {
    const c = byIdentifier.get(identifierOf(o.id));
    known.set(o.id, c ? { contactId: c.id, adopted: false, contact: c } : null);
  }
  const rest = orgs.filter((o) => known.get(o.id) === null);
  if (rest.length && legacyLookup && (await legacyContactsExist(deps, runId))) {
    const found = await filterIn(
      deps,
      'pipedrive_org_id',
      rest.map((o) => o.id),
    );
    for (const c of found.sort((a, b) => a.id - b.id)) {
      const orgId = Number(c.customAttributes.pipedrive_org_id);
      // A contact that carries another organization's identifier is not this one's to adopt.
      if (c.identifier && c.identifier !== identifierOf(orgId)) continue;
      if (known.get(orgId) === null) known.set(orgId, { contactId: c.id, adopted: true, contact: c });
    }
  }
  return known;
}

/**
 * Whether Chatwoot holds contacts with a pipedrive_org_id that the database does not know (made
 * by the original deployment, or by a database restored from an old backup). Asked once per run.
 */
function legacyContactsExist(deps: SyncDeps, runId: string): Promise<boolean> {
  return cached(deps.redis, `${deps.config.redis.prefix}:run:${runId}:legacy`, 86_400, async () => {
    const { count } = await deps.chatwoot.filterContacts(
      [{ attributeKey: 'pipedrive_org_id', operator: 'is_greater_than', value: 0 }],
      1,
    );
    const rows = (await deps.ds.query(
      'SELECT COUNT(*) AS n FROM organizations WHERE chatwoot_contact_id IS NOT NULL',
    )) as { n: string | number }[];
    return count > Number(rows[0]?.n ?? 0);
  });
}
