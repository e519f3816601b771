import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';

export interface SyncTarget {
  pipedrive: string;
  chatwoot: string;
}

export interface TargetState {
  /** This configuration's target, as stored: compare it with a run's `details.target`. */
  key: string;
  /** Since when the stored data belongs to this target: runs listed before it do not count. */
  since: Date;
  changed: false | { from: SyncTarget; to: SyncTarget; forgotten: 'mirror' | 'contact ids' };
}

/** Origins compared as URLs: case, default ports and trailing slashes do not make another account. */
function canonical(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url;
  }
}

/** The accounts this deployment syncs: the Pipedrive origin, and the Chatwoot origin with its account. */
export function targetOf(config: Pick<Config, 'pipedrive' | 'chatwoot'>): SyncTarget {
  return {
    pipedrive: canonical(config.pipedrive.baseUrl),
    chatwoot: canonical(`${config.chatwoot.baseUrl}/api/v1/accounts/${config.chatwoot.accountId}`),
  };
}

const keyOf = (t: SyncTarget) => JSON.stringify({ pipedrive: t.pipedrive, chatwoot: t.chatwoot });

/** The stored form of this configuration's target (what a run's `details.target` holds). */
export const targetKey = (config: Pick<Config, 'pipedrive' | 'chatwoot'>): string => keyOf(targetOf(config));

/**
 * The stored mirror and contact ids belong to one Pipedrive and one Chatwoot. When the
 * configuration points at others (the simulator, then the real account; a new Chatwoot account),
 * what the database knows about the old ones is forgotten before anything is written: another
 * Pipedrive's mirror is dropped, another Chatwoot's contact ids and hashes are cleared, so every
 * contact is found again by its identifier and no contact of the new account is updated by an id
 * that meant something else. `since` moves to `now`: listings made before no longer count, so the
 * next run lists everything, and runs of the old target still in progress are ended (see
 * `processBatch`). A database's first check records the current target, its data assumed to be
 * this target's.
 */
export async function ensureTarget(
  ds: DataSource,
  config: Pick<Config, 'pipedrive' | 'chatwoot'>,
  log: Pick<Logger, 'warn'>,
): Promise<TargetState> {
  const to = targetOf(config);
  const key = targetKey(config);
  // Created outside the locking transaction: two first callers would otherwise deadlock on the gap lock.
  await ds.query(
    "INSERT IGNORE INTO pcs_settings (name, value, updated_at) VALUES ('sync_target', ?, '1970-01-01 00:00:01')",
    [key],
  );
  return ds.transaction(async (m) => {
    const rows = (await m.query(
      "SELECT value, updated_at AS since FROM pcs_settings WHERE name = 'sync_target' FOR UPDATE",
    )) as { value: string; since: Date }[];
    const row = rows[0]!;
    let from: SyncTarget;
    try {
      from = JSON.parse(row.value) as SyncTarget;
    } catch {
      from = { pipedrive: '(unreadable)', chatwoot: '(unreadable)' };
    }
    if (from.pipedrive === to.pipedrive && from.chatwoot === to.chatwoot)
      return { key, since: new Date(row.since), changed: false as const };
    let forgotten: 'mirror' | 'contact ids';
    if (from.pipedrive !== to.pipedrive) {
      await m.query('DELETE FROM persons');
      await m.query('DELETE FROM organizations');
      forgotten = 'mirror';
    } else {
      await m.query(
        "UPDATE organizations SET chatwoot_contact_id = NULL, content_hash = NULL, rejected_values = NULL, contact_status = NULL, sync_state = 'pending'",
      );
      forgotten = 'contact ids';
    }
    await m.query("UPDATE pcs_settings SET value = ?, updated_at = UTC_TIMESTAMP(3) WHERE name = 'sync_target'", [key]);
    const [{ now }] = (await m.query("SELECT updated_at AS now FROM pcs_settings WHERE name = 'sync_target'")) as {
      now: Date;
    }[] as [{ now: Date }];
    log.warn(
      { from, to, forgotten },
      `the sync target changed: forgot the previous account's ${forgotten}; the next listing covers everything and finds each contact again by its identifier`,
    );
    return { key, since: new Date(now), changed: { from, to, forgotten } };
  });
}

/**
 * Since when the stored data belongs to this configuration's target, without changing anything
 * (for read-only questions: status, checks). A configuration that points elsewhere than the
 * stored data has no history yet: the time is the database's now.
 */
export async function targetSince(ds: DataSource, config: Pick<Config, 'pipedrive' | 'chatwoot'>): Promise<Date> {
  const rows = (await ds.query(
    "SELECT value, updated_at AS since, UTC_TIMESTAMP(3) AS now FROM pcs_settings WHERE name = 'sync_target'",
  )) as { value: string; since: Date; now: Date }[];
  const row = rows[0];
  if (!row) return new Date(0);
  return row.value === targetKey(config) ? new Date(row.since) : new Date(row.now);
}
