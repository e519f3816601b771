import type { CwContact } from '@pcs/chatwoot';
import { In, OrganizationEntity, RecordOutcomeEntity, RunEntity, type Run } from '@pcs/db';
import { isApiError } from '@pcs/http';
import { isOnlineConflict } from '@pcs/chatwoot';
import { IDENTIFIER_PREFIX, identifierOf, orgIdOfIdentifier, STATUS_FORMER } from './contact.js';
import { beginExclusiveRun } from './exclusive.js';
import {
  alertErrorType,
  ensureDefinitions,
  isCustomerOrg,
  notifyEnded,
  resolveRunDetails,
  RunFailedError,
  type SyncDeps,
} from './run.js';
import { markUnseenOrganizations, upsertOrganizations } from './mirror.js';
import { ensureTarget } from './target.js';

/**
 * Cleanup: a scheduled, guarded reconciliation of Chatwoot's managed contacts against a complete
 * listing of Pipedrive's customers taken in the same run. A contact whose organization is no
 * longer a customer (label removed, deleted, merged, out of the filter) is marked `Former
 * customer` (or deleted with CLEANUP_ACTION=delete). Nothing changes when the listing breaks, or
 * when more than CLEANUP_MAX_PERCENT of the managed contacts would change (unless forced).
 */

export interface CleanupOptions {
  dryRun: boolean;
  force: boolean;
  mergeDuplicates: boolean;
  trigger: string;
  runId?: string;
}

export interface AffectedContact {
  orgId: number;
  contactId: number;
  name: string | null;
  action: 'mark' | 'delete' | 'merge';
  /** For merges: the contact the duplicate goes into. */
  intoContactId?: number;
  result?: 'marked' | 'deleted' | 'merged' | 'skipped' | 'failed' | 'would';
  reason: string;
}

export interface CleanupReport {
  runId: string;
  status: string;
  dryRun: boolean;
  action: 'mark' | 'delete';
  managed: number;
  customers: number;
  stale: number;
  /** Stale contacts this run changes (or would): those not already marked by an earlier run. */
  toChange: number;
  marked: number;
  deleted: number;
  skipped: number;
  failed: number;
  refused?: string;
  affected: AffectedContact[];
  duplicates: { orgId: number; canonicalContactId: number; duplicateContactIds: number[] }[];
  orphans: { orgId: number; contactId: number; name: string | null }[];
}

export type CleanupStart = { state: 'started' | 'resumed'; run: Run } | { state: 'duplicate' | 'blocked'; run: Run };

export async function beginCleanup(deps: SyncDeps, opts: CleanupOptions): Promise<CleanupStart> {
  const mode = opts.dryRun ? 'dry-run' : deps.config.cleanupAction;
  return beginExclusiveRun(
    deps.ds,
    deps.config.database.database,
    {
      type: 'cleanup',
      mode,
      trigger: opts.trigger,
      runId: opts.runId,
      details: { force: opts.force, mergeDuplicates: opts.mergeDuplicates },
    },
    deps.now?.() ?? new Date(),
  );
}

/** The org a managed contact belongs to: its identifier first, else the original deployment's attribute. */
export function managedOrgId(c: CwContact): number | undefined {
  const fromIdentifier = orgIdOfIdentifier(c.identifier);
  if (fromIdentifier) return fromIdentifier;
  if (c.identifier?.startsWith(IDENTIFIER_PREFIX)) return undefined;
  const attr = Number(c.customAttributes.pipedrive_org_id);
  return Number.isInteger(attr) && attr > 0 ? attr : undefined;
}

export async function runCleanup(deps: SyncDeps, run: Run, opts: CleanupOptions): Promise<CleanupReport> {
  const { ds, config } = deps;
  // Everything a cleanup run says goes to its own channel (logs/cleanup/).
  const log = deps.cleanupLog ?? deps.log;
  // Contact ids of another Chatwoot, a mirror of another Pipedrive: forgotten before they are used.
  await ensureTarget(ds, config, log);
  const runs = ds.getRepository(RunEntity);
  const action = config.cleanupAction;
  const report: CleanupReport = {
    runId: run.id,
    status: 'running',
    dryRun: opts.dryRun,
    action,
    managed: 0,
    customers: 0,
    stale: 0,
    toChange: 0,
    marked: 0,
    deleted: 0,
    skipped: 0,
    failed: 0,
    affected: [],
    duplicates: [],
    orphans: [],
  };

  // 1. The complete customer set, listed now. Any failure: nothing changes, the run fails.
  const customers = new Set<number>();
  let managedContacts: CwContact[];
  try {
    const details = await resolveRunDetails(deps, 'cleanup');
    const viaFilter = Boolean(config.pipedrive.customerFilterId);
    for await (const page of deps.pipedrive.organizationPages({ filterId: config.pipedrive.customerFilterId })) {
      await upsertOrganizations(
        ds,
        page.map((org) => ({ org, isCustomer: isCustomerOrg(org, details, viaFilter) })),
        run.id,
      );
      for (const org of page) if (isCustomerOrg(org, details, viaFilter)) customers.add(org.id);
    }
    // The mirror learns what the complete listing showed: organizations it did not list are no
    // longer customers (deleted, merged, out of the filter), so no sync brings their contact back.
    await markUnseenOrganizations(ds, run.id, !viaFilter);
    if (!(await ensureDefinitions(deps)))
      throw new Error(
        'the Chatwoot account has no pipedrive_org_id attribute definition and the token may not create it (needs an administrator)',
      );
    // 2. Every managed contact: our identifier, or the original deployment's attribute.
    managedContacts = await deps.chatwoot.filterAllContacts([
      { attributeKey: 'pipedrive_org_id', operator: 'is_greater_than', value: 0 },
    ]);
  } catch (err) {
    const errorType = alertErrorType(err);
    const message = `listing failed, nothing changed: ${(err as Error).message}`.slice(0, 1000);
    await runs.update({ id: run.id }, { status: 'failed', finishedAt: new Date(), errorType, errorMessage: message });
    log.error({ runId: run.id, err, errorType }, 'cleanup failed: incomplete listing, nothing changed');
    await notifyEnded(deps, await runs.findOneBy({ id: run.id }));
    throw new RunFailedError(message, errorType, run.id);
  }
  await runs.update({ id: run.id }, { listingComplete: true, listingStartedAt: run.startedAt });
  report.customers = customers.size;

  // 3. Group by organization: duplicates, orphans, stale.
  const byOrg = new Map<number, CwContact[]>();
  for (const c of managedContacts) {
    const orgId = managedOrgId(c);
    if (!orgId) continue;
    byOrg.set(orgId, [...(byOrg.get(orgId) ?? []), c]);
  }
  report.managed = byOrg.size;
  const rows = byOrg.size
    ? await ds
        .getRepository(OrganizationEntity)
        .find({ select: { id: true, chatwootContactId: true }, where: { id: In([...byOrg.keys()]) } })
    : [];
  const known = new Map(rows.map((r) => [r.id, r.chatwootContactId]));
  const canonical = new Map<number, CwContact>();
  for (const [orgId, list] of byOrg) {
    const sorted = [...list].sort((a, b) => a.id - b.id);
    const main =
      sorted.find((c) => c.identifier === identifierOf(orgId)) ??
      sorted.find((c) => c.id === known.get(orgId)) ??
      sorted[0]!;
    canonical.set(orgId, main);
    if (sorted.length > 1)
      report.duplicates.push({
        orgId,
        canonicalContactId: main.id,
        duplicateContactIds: sorted.filter((c) => c !== main).map((c) => c.id),
      });
    // A managed contact the database does not know (restored from an old backup, or made by hand).
    if (!known.get(orgId)) report.orphans.push({ orgId, contactId: main.id, name: main.name });
  }
  const stale = [...byOrg.keys()].filter((orgId) => !customers.has(orgId));
  report.stale = stale.length;

  // 4. The cap: a cleanup that would change too much is refused, unless forced. Contacts marked
  // by earlier runs do not count again: only what this run would change.
  const plan: AffectedContact[] = [];
  for (const orgId of stale.sort((a, b) => a - b)) {
    for (const c of byOrg.get(orgId)!) {
      if (action === 'mark' && c.customAttributes.status === STATUS_FORMER) continue; // already marked
      plan.push({
        orgId,
        contactId: c.id,
        name: c.name,
        action,
        reason: 'organization is no longer a Pipedrive customer (label removed, deleted, merged or out of the filter)',
      });
    }
  }
  if (opts.mergeDuplicates) {
    for (const d of report.duplicates) {
      if (!customers.has(d.orgId) && action === 'delete') continue; // deleted anyway
      for (const id of d.duplicateContactIds)
        plan.push({
          orgId: d.orgId,
          contactId: id,
          name: byOrg.get(d.orgId)!.find((c) => c.id === id)?.name ?? null,
          action: 'merge',
          intoContactId: d.canonicalContactId,
          reason: 'duplicate contact of the same organization',
        });
    }
  }
  const staleToChange = new Set(plan.filter((p) => p.action !== 'merge').map((p) => p.orgId)).size;
  report.toChange = staleToChange;
  const share = report.managed ? (staleToChange / report.managed) * 100 : 0;
  if (share > config.thresholds.cleanupMaxPercent && !opts.force && staleToChange > 0) {
    report.refused = `${staleToChange} of ${report.managed} managed contacts (${share.toFixed(1)}%) would change, above CLEANUP_MAX_PERCENT=${config.thresholds.cleanupMaxPercent}%: nothing changed; check Pipedrive, then run \`pnpm manage cleanup --force\` if this is right`;
    report.affected = plan.map((p) => ({ ...p, result: 'would' }));
    report.status = 'refused';
    await runs.update(
      { id: run.id },
      {
        status: 'refused',
        finishedAt: new Date(),
        errorType: 'cleanup refused',
        errorMessage: report.refused,
        details: detailsOf(report, opts) as never,
      },
    );
    log.warn(
      { runId: run.id, stale: staleToChange, managed: report.managed, percent: Number(share.toFixed(1)) },
      `cleanup refused: ${report.refused}`,
    );
    await notifyEnded(deps, await runs.findOneBy({ id: run.id }));
    return report;
  }

  // 5. Apply (or, in a dry run, only list).
  const cleanupLog = log;
  const outcomes: {
    orgId: number;
    outcome: 'marked' | 'deleted' | 'skipped' | 'failed';
    errorType: string | null;
    message: string;
  }[] = [];
  for (const p of plan) {
    if (opts.dryRun) {
      report.affected.push({ ...p, result: 'would' });
      continue;
    }
    try {
      if (p.action === 'mark') {
        await deps.chatwoot.updateContact(p.contactId, { custom_attributes: { status: STATUS_FORMER } });
        await ds
          .getRepository(OrganizationEntity)
          .update({ id: p.orgId }, { contactStatus: STATUS_FORMER, contentHash: null });
        report.marked += 1;
        p.result = 'marked';
      } else if (p.action === 'delete') {
        await deps.chatwoot.deleteContact(p.contactId);
        await ds
          .getRepository(OrganizationEntity)
          .update(
            { id: p.orgId, chatwootContactId: p.contactId },
            { chatwootContactId: null, contentHash: null, contactStatus: null, syncState: 'pending' },
          );
        report.deleted += 1;
        p.result = 'deleted';
      } else {
        await deps.chatwoot.mergeContacts(p.intoContactId!, p.contactId);
        // The database follows the merge: the organization's contact is the one merged into.
        await ds
          .getRepository(OrganizationEntity)
          .update(
            { id: p.orgId, chatwootContactId: p.contactId },
            { chatwootContactId: p.intoContactId!, contentHash: null },
          );
        p.result = 'merged';
      }
      cleanupLog.info(
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
      if (p.action !== 'merge')
        outcomes.push({
          orgId: p.orgId,
          outcome: p.result as 'marked' | 'deleted',
          errorType: null,
          message: p.reason,
        });
    } catch (err) {
      if (isApiError(err, 'rate_limit') || isApiError(err, 'auth')) {
        // Stop here; what changed is recorded below; the next run carries on.
        report.failed += 1;
        p.result = 'failed';
        outcomes.push({
          orgId: p.orgId,
          outcome: 'failed',
          errorType: isApiError(err) ? err.type : 'system',
          message: (err as Error).message.slice(0, 1000),
        });
        report.affected.push(p);
        break;
      }
      const online = isOnlineConflict(err);
      const result = online ? 'skipped' : 'failed';
      const type = isApiError(err) ? err.type : 'system';
      const message = online
        ? 'contact is online in Chatwoot: deletion retried on the next run'
        : isApiError(err, 'forbidden')
          ? `the Chatwoot token may not ${p.action} contacts (an administrator's token is needed): ${(err as Error).message}`
          : (err as Error).message;
      p.result = result;
      if (result === 'skipped') report.skipped += 1;
      else report.failed += 1;
      outcomes.push({
        orgId: p.orgId,
        outcome: result,
        errorType: online ? null : type,
        message: message.slice(0, 1000),
      });
      cleanupLog.warn(
        { runId: run.id, orgId: p.orgId, contactId: p.contactId, action: p.action, result, errorType: type },
        message,
      );
    }
    report.affected.push(p);
  }

  if (outcomes.length) {
    await ds.getRepository(RecordOutcomeEntity).insert(
      outcomes.map((o) => ({
        runId: run.id,
        orgId: o.orgId,
        outcome: o.outcome,
        errorType: o.errorType,
        message: o.message,
        createdAt: new Date(),
      })),
    );
  }
  report.status = report.failed ? 'partial' : 'succeeded';
  await runs.update(
    { id: run.id },
    {
      status: report.status as Run['status'],
      finishedAt: new Date(),
      processed: plan.length,
      marked: report.marked,
      deleted: report.deleted,
      skipped: report.skipped,
      failed: report.failed,
      errorType: report.failed ? 'API failure' : null,
      errorMessage: report.failed ? `${report.failed} contact(s) could not be changed` : null,
      details: detailsOf(report, opts) as never,
    },
  );
  if (!opts.dryRun) await notifyEnded(deps, await runs.findOneBy({ id: run.id }));
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
