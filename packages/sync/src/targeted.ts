import { randomUUID } from 'node:crypto';
import { OrganizationEntity, RunEntity } from '@pcs/db';
import type { PdPerson } from '@pcs/pipedrive';
import { pipedriveWebOrigin } from './contact.js';
import { replacePersonsOfOrg, upsertOrganizations } from './mirror.js';
import {
  alertErrorType,
  commitResults,
  finalizeIfDone,
  isCustomerOrg,
  resolveRunDetails,
  type RunDetails,
  type SyncDeps,
} from './run.js';
import { ensureTarget, targetOf } from './target.js';
import { upsertOrganization } from './upsert.js';

/** How long the resolved field ids (customer label, phone and link keys) are reused by targeted upserts. */
const DETAILS_TTL_SECONDS = 600;

async function cachedDetails(deps: SyncDeps): Promise<RunDetails> {
  const t = targetOf(deps.config);
  const key = `${deps.config.redis.prefix}:sync:details:${t.pipedrive}|${t.chatwoot}`;
  const cached = await deps.redis.get(key);
  if (cached) return JSON.parse(cached) as RunDetails;
  const details = await resolveRunDetails(deps, 'webhook');
  await deps.redis.set(key, JSON.stringify(details), 'EX', DETAILS_TTL_SECONDS);
  return details;
}

export interface TargetedResult {
  orgId: number;
  runId?: string;
  outcome: string;
  isCustomer: boolean;
}

/**
 * A targeted upsert of one organization (a Pipedrive webhook event): fetch it and its persons
 * (2 requests), refresh the mirror, write its contact. An organization that is gone or no longer
 * a customer is only recorded as such: cleanup decides what happens to its contact.
 */
export async function syncOne(deps: SyncDeps, orgId: number, trigger: string): Promise<TargetedResult> {
  const { ds } = deps;
  // Never write by a contact id that belonged to another Chatwoot (see ensureTarget).
  await ensureTarget(ds, deps.config, deps.log);
  const details = await cachedDetails(deps);
  const org = await deps.pipedrive.getOrganization(orgId);
  if (!org) {
    await ds.getRepository(OrganizationEntity).update({ id: orgId }, { isCustomer: false, isDeleted: true });
    return { orgId, outcome: 'gone', isCustomer: false };
  }
  const persons: PdPerson[] = [];
  for await (const page of deps.pipedrive.personPages({ orgId })) persons.push(...page);
  const viaFilter = Boolean(deps.config.pipedrive.customerFilterId);
  // With a customer filter, membership is only known from the filter's listing: keep what the mirror knows.
  const known = viaFilter ? await ds.getRepository(OrganizationEntity).findOneBy({ id: orgId }) : null;
  const isCustomer = viaFilter ? Boolean(known?.isCustomer) && !org.isDeleted : isCustomerOrg(org, details, false);
  await upsertOrganizations(ds, [{ org, isCustomer }], null);
  await replacePersonsOfOrg(ds, orgId, persons);
  if (!isCustomer) return { orgId, outcome: 'not a customer', isCustomer: false };

  const now = deps.now?.() ?? new Date();
  const runId = randomUUID();
  await ds.getRepository(RunEntity).insert({
    id: runId,
    type: 'sync',
    mode: 'webhook',
    trigger,
    status: 'running',
    startedAt: now,
    listingStartedAt: now,
    listingComplete: true,
    details: { orgId },
  });
  try {
    return await upsertOne(deps, details, orgId, persons, runId, now);
  } catch (err) {
    // A webhook run never stays "running": it fails with the error, and the job retries or fails.
    await ds.getRepository(RunEntity).update(
      { id: runId, status: 'running' },
      {
        status: 'failed',
        finishedAt: new Date(),
        errorType: alertErrorType(err),
        errorMessage: (err as Error).message.slice(0, 1000),
      },
    );
    throw err;
  }
}

async function upsertOne(
  deps: SyncDeps,
  details: RunDetails,
  orgId: number,
  persons: PdPerson[],
  runId: string,
  now: Date,
): Promise<TargetedResult> {
  const { ds } = deps;
  const row = await ds.getRepository(OrganizationEntity).findOneByOrFail({ id: orgId });
  const mirrored = persons.map((p) => ({
    id: p.id,
    orgId,
    emails: p.emails,
    phones: p.phones,
    isDeleted: false,
    updateTime: p.updateTime,
    seenRunId: null,
  }));
  const result = await upsertOrganization(
    {
      chatwoot: deps.chatwoot,
      inboxId: deps.config.chatwoot.inboxId,
      legacyLookup: details.legacyLookup !== false,
      mapping: {
        phoneFieldKey: details.phoneFieldKey,
        supportLinkFieldKey: details.supportLinkFieldKey,
        defaultCountry: deps.config.defaultCountry,
        pipedriveWebOrigin: pipedriveWebOrigin(deps.config.pipedrive.baseUrl),
      },
    },
    row,
    mirrored.sort((a, b) => a.id - b.id),
    now,
  );
  await commitResults(deps, runId, [result], false);
  await finalizeIfDone(deps, runId);
  return { orgId, runId, outcome: result.warning ? 'warning' : result.action, isCustomer: true };
}
