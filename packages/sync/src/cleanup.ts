import { isOnlineConflict } from '@pcs/chatwoot';
import { OrganizationEntity, type Run } from '@pcs/db';
import { describeError, isKind } from '@pcs/errors';
import { listForCleanup, type CleanupListing } from './cleanup-listing.js';
import {
  planCleanup,
  REPORT_LIST_CAP,
  type AffectedContact,
  type CleanupOptions,
  type CleanupReport,
} from './cleanup-plan.js';
import { STATUS_FORMER } from './contact.js';
import {
  durable,
  progressReporter,
  REPORT_FAILED_CAP,
  reportLines,
  RunEndedError,
  RunFailedError,
  type SyncDeps,
} from './deps.js';
import { runEnded } from './ended.js';
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

/** Outcomes recorded together while changes are made. */
const OUTCOME_CHUNK = 500;

export async function runCleanup(deps: SyncDeps, run: Run, opts: CleanupOptions): Promise<CleanupReport> {
  const { ds, config, runs } = deps;
  // Everything a cleanup run says goes to its own channel (logs/cleanup/).
  const log = deps.cleanupLog ?? deps.log;
  const logged = { ...deps, log };
  const action = config.cleanupAction;
  let listed: CleanupListing;
  // What Bull Board shows of the cleanup job (docs/contract.md §4, /admin/queues): listing, then changes done of total.
  const progress = progressReporter(deps);
  await progress({ phase: 'listing' }, true);
  try {
    // Contact ids of another Chatwoot, a mirror of another Pipedrive: forgotten before they are used.
    await durable(deps, () => ensureTarget(ds, config, log));
    listed = await listForCleanup(deps, run);
  } catch (err) {
    if (err instanceof RunEndedError) throw err;
    const failure = failureOf(err, 'listing failed, nothing changed: ');
    log.error({ runId: run.id, err, errorKind: failure.kind }, 'cleanup failed: incomplete listing, nothing changed');
    await progress({ phase: 'failed' }, true);
    await reportLines(deps, [`cleanup ${run.id} failed: ${failure.message}`]);
    await runEnded(logged, await runs.fail(run.id, failure));
    throw new RunFailedError(failure.message, errorTypeOf(failure), run.id);
  }
  if (!(await runs.completeListing(run.id, { batchesTotal: 0 }))) throw new RunEndedError(run.id);

  const plan = planCleanup({
    managed: listed.managed,
    customers: listed.customers,
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
  const shown = { contactsListed: report.managed, customers: report.customers, changesTotal: plan.changeCount };
  let changesDone = 0;
  await progress({ phase: 'listed', ...shown, changesDone }, true);
  const list = (p: AffectedContact) => {
    if (report.affected.length < REPORT_LIST_CAP.affected) report.affected.push(p);
  };

  if (report.refused) {
    for (const p of plan.changes()) {
      if (report.affected.length >= REPORT_LIST_CAP.affected) break;
      list({ ...p, result: 'would' });
    }
    report.status = 'refused';
    log.warn({ runId: run.id, stale: report.toChange, managed: report.managed }, `cleanup refused: ${report.refused}`);
    await progress({ phase: 'refused', ...shown, changesDone }, true);
    await reportLines(deps, [`cleanup refused: ${report.refused}`]);
    const ended = await runs.endCleanup(run.id, {
      status: 'refused',
      errorType: 'cleanup refused',
      errorMessage: report.refused,
      details: detailsOf(report, opts),
    });
    await runEnded(logged, ended);
    return report;
  }

  // Apply (or, in a dry run, only list), one change at a time as the plan yields it.
  // One outcome per organization (a failure of any of its contacts wins); an organization's
  // changes come together, so its outcome is final when the next organization's start, and
  // outcomes are recorded in chunks as the run goes.
  const outcomes: OutcomeRecord[] = [];
  let current: OutcomeRecord | undefined;
  const settle = async (force = false) => {
    if (current) outcomes.push(current);
    current = undefined;
    if (outcomes.length && (force || outcomes.length >= OUTCOME_CHUNK))
      await runs.recordOutcomes(run.id, outcomes.splice(0), { count: false });
  };
  for (const p of plan.changes()) {
    if (opts.dryRun) {
      if (report.affected.length >= REPORT_LIST_CAP.affected) break;
      list({ ...p, result: 'would' });
      continue;
    }
    // Each change renews the lease; an aborted or reaped run stops before the next one (what
    // changed so far is recorded below).
    if (!(await runs.progress(run.id))) break;
    const stop = await applyChange(deps, run, p, report, log);
    changesDone += 1;
    await progress({ phase: 'changing', ...shown, changesDone });
    list(p);
    if (p.action !== 'merge') {
      if (current && current.orgId !== p.orgId) await settle();
      if (!current || current.action !== 'failed')
        current = {
          orgId: p.orgId,
          action: p.result as OutcomeRecord['action'],
          errorType: p.errorKind ?? null,
          message: p.reason,
        };
    }
    if (stop) break;
  }
  await settle(true);
  await progress({ phase: 'done', ...shown, changesDone }, true);

  report.status = report.failed ? 'partial' : 'succeeded';
  const ended = await runs.endCleanup(run.id, {
    status: report.status as 'succeeded' | 'partial',
    processed: plan.changeCount,
    marked: report.marked,
    deleted: report.deleted,
    skipped: report.skipped,
    failed: report.failed,
    errorType: report.failed ? 'API failure' : null,
    errorMessage: report.failed ? `${report.failed} contact(s) could not be changed` : null,
    details: detailsOf(report, opts),
  });
  if (!ended) report.status = (await runs.get(run.id))?.status ?? report.status;
  const failedShown = report.affected.filter((p) => p.result === 'failed').slice(0, REPORT_FAILED_CAP);
  const moreFailed = report.failed - failedShown.length;
  await reportLines(deps, [
    `cleanup ${report.status}${opts.dryRun ? ' (dry run)' : ''}: ${report.managed} managed contact(s), ${plan.changeCount} change(s); marked ${report.marked}, deleted ${report.deleted}, skipped ${report.skipped}, failed ${report.failed}`,
    ...failedShown.map((p) => `contact ${p.contactId} of organization ${p.orgId} failed (${p.action}): ${p.reason}`),
    ...(moreFailed > 0 ? [`… and ${moreFailed} more failed`] : []),
  ]);
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
      duplicates: report.duplicateCount,
      orphans: report.orphanCount,
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
    changeCount: r.changeCount,
    refused: r.refused,
    affected: r.affected.slice(0, REPORT_LIST_CAP.affected),
    duplicates: r.duplicates.slice(0, REPORT_LIST_CAP.duplicates),
    duplicateCount: r.duplicateCount,
    orphans: r.orphans.slice(0, REPORT_LIST_CAP.orphans),
    orphanCount: r.orphanCount,
  };
}
