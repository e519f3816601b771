import { isApiError } from '@pcs/http';
import { resolveCustomerLabel, resolveFieldKey, type PdOrganization } from '@pcs/pipedrive';
import { cached } from './cache.js';
import type { SyncDeps } from './deps.js';
import { targetOf } from './target.js';

/**
 * What a run resolves once at its start and records in its row: the customer label's id, the
 * configured field keys, and whether the original deployment's contacts can be looked up.
 */
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
  /** docs/contract.md §2 `sync --dry-run`: the run compares and records its plan, and writes nothing. */
  dryRun?: boolean;
  [key: string]: unknown;
}

/** Whether a run is a dry run (docs/contract.md §2): it writes nothing to Chatwoot nor to the stored hashes or contact ids. */
export function isDryRun(run: { details?: unknown } | null | undefined): boolean {
  return (run?.details as RunDetails | null | undefined)?.dryRun === true;
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
  // Known to exist: kept for good; missing (a non-admin token): asked again after an hour.
  return cached(
    deps.redis,
    key,
    (ok: boolean) => (ok ? undefined : 3600),
    async () => {
      try {
        const created = await deps.chatwoot.ensureAttributeDefinitions(DEFINITIONS);
        if (created.length) deps.log.info({ created }, 'created Chatwoot contact attribute definitions');
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
        return ok;
      }
    },
  );
}

/**
 * A dry run creates no attribute definition (a write, docs/contract.md §5): it only reads whether
 * `pipedrive_org_id` is defined, which the lookup of the original deployment's contacts needs.
 */
async function definitionExists(deps: Pick<SyncDeps, 'chatwoot' | 'log'>): Promise<boolean> {
  try {
    return (await deps.chatwoot.listAttributeDefinitions()).some((d) => d.key === 'pipedrive_org_id');
  } catch (err) {
    if (!isApiError(err, 'forbidden')) throw err;
    deps.log.warn({ err }, 'dry run: Chatwoot token may not list attribute definitions; adoptions are not looked up');
    return false;
  }
}

export async function resolveRunDetails(
  deps: SyncDeps,
  requestedMode: string,
  opts: { dryRun?: boolean } = {},
): Promise<RunDetails> {
  const { pipedrive: p } = deps.config;
  const fields = await deps.pipedrive.organizationFields();
  return {
    requestedMode,
    customerLabelId: p.customerFilterId ? undefined : resolveCustomerLabel(fields, p.customerLabel),
    phoneFieldKey: p.phoneField ? resolveFieldKey(fields, p.phoneField) : undefined,
    supportLinkFieldKey: p.supportLinkField ? resolveFieldKey(fields, p.supportLinkField) : undefined,
    legacyLookup: opts.dryRun ? await definitionExists(deps) : await ensureDefinitions(deps),
  };
}

/** How long the resolved field ids are reused by targeted upserts. */
const DETAILS_TTL_SECONDS = 600;

/** The run details for targeted upserts, resolved at most every 10 minutes (kept in Redis). */
export function cachedRunDetails(deps: SyncDeps): Promise<RunDetails> {
  const t = targetOf(deps.config);
  const key = `${deps.config.redis.prefix}:sync:details:${t.pipedrive}|${t.chatwoot}`;
  return cached(deps.redis, key, DETAILS_TTL_SECONDS, () => resolveRunDetails(deps, 'webhook'));
}

export function isCustomerOrg(org: PdOrganization, details: RunDetails, viaFilter: boolean): boolean {
  if (org.isDeleted) return false;
  return viaFilter || (details.customerLabelId !== undefined && org.labelIds.includes(details.customerLabelId));
}
