import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';

export interface SyncTarget {
  pipedrive: string;
  chatwoot: string;
}

export type TargetCheck = { changed: false } | { changed: true; from: SyncTarget; to: SyncTarget; forgotten: 'mirror' | 'contact ids' };

/** The accounts this deployment syncs: the Pipedrive origin, and the Chatwoot origin with its account. */
export function targetOf(config: Pick<Config, 'pipedrive' | 'chatwoot'>): SyncTarget {
  return { pipedrive: config.pipedrive.baseUrl, chatwoot: `${config.chatwoot.baseUrl}/api/v1/accounts/${config.chatwoot.accountId}` };
}

/**
 * The stored mirror and contact ids belong to one Pipedrive and one Chatwoot. When the
 * configuration points at others (the simulator, then the real account; a new Chatwoot account),
 * what the database knows about the old ones is forgotten before anything is written: another
 * Pipedrive's mirror is dropped, another Chatwoot's contact ids and hashes are cleared, so every
 * contact is found again by its identifier and no contact of the new account is updated by an id
 * that meant something else. The caller then lists in full. The first run of a database (or of an
 * upgraded one) records the current target.
 */
export async function ensureTarget(ds: DataSource, config: Pick<Config, 'pipedrive' | 'chatwoot'>, log: Pick<Logger, 'warn'>): Promise<TargetCheck> {
  const to = targetOf(config);
  return ds.transaction(async (m) => {
    const rows = (await m.query("SELECT value FROM settings WHERE name = 'sync_target' FOR UPDATE")) as { value: string }[];
    const now = new Date();
    if (!rows.length) {
      await m.query("INSERT INTO settings (name, value, updated_at) VALUES ('sync_target', ?, ?) ON DUPLICATE KEY UPDATE name = name", [JSON.stringify(to), now]);
      return { changed: false };
    }
    const from = JSON.parse(rows[0]!.value) as SyncTarget;
    if (from.pipedrive === to.pipedrive && from.chatwoot === to.chatwoot) return { changed: false };
    let forgotten: 'mirror' | 'contact ids';
    if (from.pipedrive !== to.pipedrive) {
      await m.query('DELETE FROM persons');
      await m.query('DELETE FROM organizations');
      forgotten = 'mirror';
    } else {
      await m.query("UPDATE organizations SET chatwoot_contact_id = NULL, content_hash = NULL, rejected_values = NULL, contact_status = NULL, sync_state = 'pending'");
      forgotten = 'contact ids';
    }
    await m.query("UPDATE settings SET value = ?, updated_at = ? WHERE name = 'sync_target'", [JSON.stringify(to), now]);
    log.warn({ from, to, forgotten }, `the sync target changed: forgot the previous account's ${forgotten}; this run lists everything and finds each contact again by its identifier`);
    return { changed: true, from, to, forgotten };
  });
}
