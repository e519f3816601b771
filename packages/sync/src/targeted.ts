import { OrganizationEntity } from '@pcs/db';
import type { PdPerson } from '@pcs/pipedrive';
import { commitResults, upsertContext } from './batch.js';
import { durable, outcomeLines, reportLines, type SyncDeps } from './deps.js';
import { cachedRunDetails, isCustomerOrg } from './details.js';
import { runEnded } from './ended.js';
import { replacePersonsOfOrg, upsertOrganizations } from './mirror.js';
import { failureOf } from './runs/index.js';
import { ensureTarget } from './target.js';
import { upsertOrganization } from './upsert.js';

export interface TargetedResult {
  orgId: number;
  runId?: string;
  outcome: string;
  isCustomer: boolean;
  /** Why, for an outcome that is not plain: the value left off, the failure, gone, not a customer. */
  message?: string;
}

export interface TargetedOptions {
  /**
   * Write the contact even when the stored content hash says nothing changed (`manage sync --org`
   * syncs "whatever their hash", docs/contract.md §2).
   */
  force?: boolean;
}

/**
 * A targeted upsert of one organization (a Pipedrive webhook event): fetch it and its persons
 * (2 requests), refresh the mirror, write its contact, as a run of its own (mode `webhook`). An
 * organization that is gone or no longer a customer is only recorded as such: cleanup decides
 * what happens to its contact. With `force`, an unchanged organization is written all the same.
 */
export async function syncOne(
  deps: SyncDeps,
  orgId: number,
  trigger: string,
  jobId?: string,
  options: TargetedOptions = {},
): Promise<TargetedResult> {
  const { ds } = deps;
  // Never write by a contact id that belonged to another Chatwoot (see ensureTarget).
  await durable(deps, () => ensureTarget(ds, deps.config, deps.log));
  const details = await cachedRunDetails(deps);
  const org = await deps.pipedrive.getOrganization(orgId);
  if (!org) {
    await durable(deps, () =>
      ds.getRepository(OrganizationEntity).update({ id: orgId }, { isCustomer: false, isDeleted: true }),
    );
    await reportLines(deps, [`organization ${orgId} is gone from Pipedrive: recorded as deleted`]);
    return { orgId, outcome: 'gone', isCustomer: false, message: 'gone from Pipedrive: recorded as deleted' };
  }
  const persons: PdPerson[] = [];
  for await (const page of deps.pipedrive.personPages({ orgId })) persons.push(...page);
  const viaFilter = Boolean(deps.config.pipedrive.customerFilterId);
  // With a customer filter, membership is only known from the filter's listing: keep what the mirror knows.
  const known = viaFilter
    ? await durable(deps, () => ds.getRepository(OrganizationEntity).findOneBy({ id: orgId }))
    : null;
  const isCustomer = viaFilter ? Boolean(known?.isCustomer) && !org.isDeleted : isCustomerOrg(org, details, false);
  await durable(deps, async () => {
    await upsertOrganizations(ds, [{ org, isCustomer }], null);
    await replacePersonsOfOrg(ds, orgId, persons);
  });
  if (!isCustomer) {
    await reportLines(deps, [`organization ${orgId} is not a customer: nothing written`]);
    return { orgId, outcome: 'not a customer', isCustomer: false, message: 'not a customer: nothing written' };
  }

  const run = await deps.runs.beginTargeted({ trigger, jobId, details: { orgId } });
  try {
    const row = await durable(deps, () => ds.getRepository(OrganizationEntity).findOneByOrFail({ id: orgId }));
    const mirrored = persons
      .map((p) => ({
        id: p.id,
        orgId,
        emails: p.emails,
        phones: p.phones,
        isDeleted: false,
        updateTime: p.updateTime,
        seenRunId: null,
      }))
      .sort((a, b) => a.id - b.id);
    // Forced: without a stored hash the upsert cannot take its "unchanged" shortcut, so it writes.
    const source = options.force ? { ...row, contentHash: null } : row;
    const result = await upsertOrganization(upsertContext(deps, details), source, mirrored, await deps.runs.now());
    const counts = await commitResults(deps, run.id, [result]);
    // What Bull Board shows of the targeted job (docs/contract.md §4, /admin/queues).
    await reportLines(
      deps,
      outcomeLines(`organization ${orgId} (run ${run.id})`, counts, result.action === 'failed' ? [result] : []),
    );
    await runEnded(deps, await deps.runs.finishIfDone(run.id));
    const message = result.warning ?? result.message;
    return {
      orgId,
      runId: run.id,
      outcome: result.warning ? 'warning' : result.action,
      isCustomer: true,
      ...(message ? { message } : {}),
    };
  } catch (err) {
    await reportLines(deps, [`organization ${orgId} failed: ${(err as Error).message}`]);
    // A targeted run never stays "running": it fails with the error, and the job retries or fails.
    await deps.runs
      .fail(run.id, failureOf(err))
      .catch((e: unknown) => deps.log.error({ err: e, runId: run.id }, 'could not record the failed targeted run'));
    throw err;
  }
}
