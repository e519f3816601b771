import { isOnlineConflict, type CwContact } from '@pcs/chatwoot';
import { In, OrganizationEntity, type Run } from '@pcs/db';
import { describeError, isKind } from '@pcs/errors';
import {
  managedOrgIds,
  planCleanup,
  type AffectedContact,
  type CleanupOptions,
  type CleanupReport,
} from './cleanup-plan.js';
import { STATUS_FORMER } from './contact.js';
import { durable, RunEndedError, RunFailedError, type SyncDeps } from './deps.js';
import { ensureDefinitions, isCustomerOrg, resolveRunDetails } from './details.js';
import { runEnded } from './ended.js';
import { markUnseenOrganizations, upsertOrganizations } from './mirror.js';
import { errorTypeOf, failureOf, type BeginResult, type OutcomeRecord } from './runs/index.js';
import { ensureTarget } from './target.js';

export * from './cleanup-plan.js';

/**
 * Cleanup: a scheduled, guarded reconciliation of Chatwoot's managed contacts against a complete
 * listing of Pipedrive's customers taken in the same run. A contact whose organization is no
 * longer a customer (label removed, deleted, merged, out of the filter) is marked `Former
 * customer` (or deleted with CLEANUP_ACTION=delete). Nothing changes when the listing breaks, or
 * when more than CLEANUP_MAX_PERCENT of the managed contacts would change (unless forced).
 */

export function beginCleanup(deps: SyncDeps, opts: CleanupOptions & { jobId?: string }): Promise<BeginResult> {
  return deps.runs.begin({
    type: 'cleanup',
    mode: opts.dryRun ? 'dry-run' : deps.config.cleanupAction,
    trigger: opts.trigger,
    runId: opts.runId,
    jobId: opts.jobId,
    details: { force: opts.force, mergeDuplicates: opts.mergeDuplicates },
  });
}

/** The complete customer set and every managed contact, listed now. Any failure: nothing changes, the run fails. */
async function listBoth(deps: SyncDeps, run: Run): Promise<{ customers: Set<number>; managed: CwContact[] }> {
  const { ds, config } = deps;
  const customers = new Set<number>();
  const details = await resolveRunDetails(deps, 'cleanup');
  const viaFilter = Boolean(config.pipedrive.customerFilterId);
  for await (const page of deps.pipedrive.organizationPages({ filterId: config.pipedrive.customerFilterId })) {
    const rows = page.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, viaFilter) }));
    await durable(deps, () => upsertOrganizations(ds, rows, run.id));
    for (const r of rows) if (r.isCustomer) customers.add(r.org.id);
    if (!(await deps.runs.progress(run.id))) throw new RunEndedError(run.id);
  }
  // The mirror learns what the complete listing showed: organizations it did not list are no
  // longer customers (deleted, merged, out of the filter), so no sync brings their contact back.
  await durable(deps, () => markUnseenOrganizations(ds, run.id, !viaFilter));
  if (!(await ensureDefinitions(deps)))
    throw new Error(
      'the Chatwoot account has no pipedrive_org_id attribute definition and the token may not create it (needs an administrator)',
    );
  // Every managed contact: our identifier, or the original deployment's attribute.
  const managed = await deps.chatwoot.filterAllContacts([
    { attributeKey: 'pipedrive_org_id', operator: 'is_greater_than', value: 0 },
  ]);
  return { customers, managed };
}

export async function runCleanup(deps: SyncDeps, run: Run, opts: CleanupOptions): Promise<CleanupReport> {
  const { ds, config, runs } = deps;
  // Everything a cleanup run says goes to its own channel (logs/cleanup/).
  const log = deps.cleanupLog ?? deps.log;
  const logged = { ...deps, log };
  const action = config.cleanupAction;
  let listed: Awaited<ReturnType<typeof listBoth>>;
  try {
    // Contact ids of another Chatwoot, a mirror of another Pipedrive: forgotten before they are used.
    await durable(deps, () => ensureTarget(ds, config, log));
    listed = await listBoth(deps, run);
  } catch (err) {
    if (err instanceof RunEndedError) throw err;
    const failure = failureOf(err, 'listing failed, nothing changed: ');
    log.error({ runId: run.id, err, errorKind: failure.kind }, 'cleanup failed: incomplete listing, nothing changed');
    await runEnded(logged, await runs.fail(run.id, failure));
    throw new RunFailedError(failure.message, errorTypeOf(failure), run.id);
  }
  if (!(await runs.completeListing(run.id, { batchesTotal: 0 }))) throw new RunEndedError(run.id);

  const ids = managedOrgIds(listed.managed);
  const rows = ids.length
    ? await durable(deps, () =>
        ds
          .getRepository(OrganizationEntity)
          .find({ select: { id: true, chatwootContactId: true }, where: { id: In(ids) } }),
      )
    : [];
  const plan = planCleanup({
    managedContacts: listed.managed,
    customers: listed.customers,
    knownContact: new Map(rows.map((r) => [r.id, r.chatwootContactId])),
    action,
    mergeDuplicates: opts.mergeDuplicates,
    force: opts.force,
    maxPercent: config.thresholds.cleanupMaxPercent,
  });
  const report: CleanupReport = {
    runId: run.id,
    status: 'running',
    dryRun: opts.dryRun,
    action,
    customers: listed.customers.size,
    marked: 0,
    deleted: 0,
    skipped: 0,
    failed: 0,
    affected: [],
    ...plan.report,
  };

  if (report.refused) {
    report.affected = plan.changes.map((p) => ({ ...p, result: 'would' }));
    report.status = 'refused';
    log.warn({ runId: run.id, stale: report.toChange, managed: report.managed }, `cleanup refused: ${report.refused}`);
    const ended = await runs.endCleanup(run.id, {
      status: 'refused',
      errorType: 'cleanup refused',
      errorMessage: report.refused,
      details: detailsOf(report, opts),
    });
    await runEnded(logged, ended);
    return report;
  }

  // Apply (or, in a dry run, only list).
  const outcomes = new Map<number, OutcomeRecord>();
  for (const p of plan.changes) {
    if (opts.dryRun) {
      report.affected.push({ ...p, result: 'would' });
      continue;
    }
    // Each change renews the lease; an aborted or reaped run stops before the next one (what
    // changed so far is recorded below).
    if (!(await runs.progress(run.id))) break;
    const stop = await applyChange(deps, run, p, report, log);
    report.affected.push(p);
    if (p.action !== 'merge') {
      const prev = outcomes.get(p.orgId);
      // One outcome per organization: a failure of any of its contacts wins.
      if (!prev || prev.action !== 'failed')
        outcomes.set(p.orgId, {
          orgId: p.orgId,
          action: p.result as OutcomeRecord['action'],
          errorType: p.errorKind ?? null,
          message: p.reason,
        });
    }
    if (stop) break;
  }

  if (outcomes.size) await runs.recordOutcomes(run.id, [...outcomes.values()], { count: false });
  report.status = report.failed ? 'partial' : 'succeeded';
  const ended = await runs.endCleanup(run.id, {
    status: report.status as 'succeeded' | 'partial',
    processed: plan.changes.length,
    marked: report.marked,
    deleted: report.deleted,
    skipped: report.skipped,
    failed: report.failed,
    errorType: report.failed ? 'API failure' : null,
    errorMessage: report.failed ? `${report.failed} contact(s) could not be changed` : null,
    details: detailsOf(report, opts),
  });
  if (!ended) report.status = (await runs.get(run.id))?.status ?? report.status;
  await runEnded(logged, ended);
  log.info(
    {
      runId: run.id,
      dryRun: opts.dryRun,
      action,
      managed: report.managed,
      stale: report.stale,
      marked: report.marked,
      deleted: report.deleted,
      skipped: report.skipped,
      failed: report.failed,
      duplicates: report.duplicates.length,
      orphans: report.orphans.length,
    },
    `cleanup ${report.status}`,
  );
  return report;
}

/**
 * Makes one change in Chatwoot and lets the database follow it. Returns true when the run must
 * stop here (a rate limit or a rejected token: the next run carries on).
 */
async function applyChange(
  deps: SyncDeps,
  run: Run,
  p: AffectedContact,
  report: CleanupReport,
  log: SyncDeps['log'],
): Promise<boolean> {
  const orgs = deps.ds.getRepository(OrganizationEntity);
  try {
    if (p.action === 'mark') {
      await deps.chatwoot.updateContact(p.contactId, { custom_attributes: { status: STATUS_FORMER } });
      await durable(deps, () => orgs.update({ id: p.orgId }, { contactStatus: STATUS_FORMER, contentHash: null }));
      report.marked += 1;
      p.result = 'marked';
    } else if (p.action === 'delete') {
      await deps.chatwoot.deleteContact(p.contactId);
      await durable(deps, () =>
        orgs.update(
          { id: p.orgId, chatwootContactId: p.contactId },
          { chatwootContactId: null, contentHash: null, contactStatus: null, syncState: 'pending' },
        ),
      );
      report.deleted += 1;
      p.result = 'deleted';
    } else {
      await deps.chatwoot.mergeContacts(p.intoContactId!, p.contactId);
      // The database follows the merge: the organization's contact is the one merged into.
      await durable(deps, () =>
        orgs.update(
          { id: p.orgId, chatwootContactId: p.contactId },
          { chatwootContactId: p.intoContactId!, contentHash: null },
        ),
      );
      p.result = 'merged';
    }
    log.info(
      {
        runId: run.id,
        orgId: p.orgId,
        contactId: p.contactId,
        orgName: p.name,
        action: p.action,
        intoContactId: p.intoContactId,
        result: p.result,
      },
      `${p.result} contact ${p.contactId} of organization ${p.orgId}`,
    );
    return false;
  } catch (err) {
    const { kind, message: text } = describeError(err);
    const online = isOnlineConflict(err);
    p.result = online ? 'skipped' : 'failed';
    if (!online) p.errorKind = kind;
    p.reason = online
      ? 'contact is online in Chatwoot: deletion retried on the next run'
      : isKind(err, 'forbidden')
        ? `the Chatwoot token may not ${p.action} contacts (an administrator's token is needed): ${text}`
        : text;
    if (online) report.skipped += 1;
    else report.failed += 1;
    log.warn(
      { runId: run.id, orgId: p.orgId, contactId: p.contactId, action: p.action, result: p.result, errorKind: kind },
      p.reason,
    );
    return isKind(err, 'rate_limit', 'auth');
  }
}

/** What the runs table keeps of a cleanup report (the CLI's --wait prints it). */
function detailsOf(r: CleanupReport, opts: CleanupOptions): Record<string, unknown> {
  return {
    dryRun: opts.dryRun,
    force: opts.force,
    mergeDuplicates: opts.mergeDuplicates,
    action: r.action,
    managed: r.managed,
    customers: r.customers,
    stale: r.stale,
    toChange: r.toChange,
    refused: r.refused,
    affected: r.affected.slice(0, 5_000),
    duplicates: r.duplicates.slice(0, 1_000),
    orphans: r.orphans.slice(0, 1_000),
  };
}
