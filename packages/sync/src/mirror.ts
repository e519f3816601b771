import {
  In,
  OrganizationEntity,
  PersonEntity,
  type DataSource,
  type EntityManager,
  type Organization,
  type Person,
} from '@pcs/db';
import type { PdOrganization, PdPerson } from '@pcs/pipedrive';

/**
 * The database mirror of Pipedrive: organizations (with the fields the contact needs) and their
 * persons' emails and phones. Written page by page during a run's listing, read by the batches.
 */

const CHUNK = 500;

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface OrgMirrorInput {
  org: PdOrganization;
  isCustomer: boolean;
}

/** Upserts a page of organizations; returns the ids whose customer flag changed. */
export async function upsertOrganizations(
  ds: DataSource,
  rows: OrgMirrorInput[],
  seenRunId: string | null,
): Promise<void> {
  for (const part of chunks(rows)) {
    if (!part.length) continue;
    const values: unknown[] = [];
    const tuples = part.map(({ org, isCustomer }) => {
      values.push(
        org.id,
        org.name.slice(0, 512),
        isCustomer ? 1 : 0,
        org.isDeleted ? 1 : 0,
        JSON.stringify(org.labelIds),
        org.address?.locality ?? null,
        org.address?.country ?? null,
        JSON.stringify(org.customFields ?? {}),
        org.updateTime,
        seenRunId,
      );
      return '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
    });
    await ds.query(
      `INSERT INTO organizations (id, name, is_customer, is_deleted, label_ids, city, country, custom_fields, pipedrive_update_time, seen_run_id)
       VALUES ${tuples.join(', ')}
       ON DUPLICATE KEY UPDATE name = VALUES(name), is_customer = VALUES(is_customer), is_deleted = VALUES(is_deleted),
         label_ids = VALUES(label_ids), city = VALUES(city), country = VALUES(country), custom_fields = VALUES(custom_fields),
         pipedrive_update_time = VALUES(pipedrive_update_time), seen_run_id = COALESCE(VALUES(seen_run_id), seen_run_id)`,
      values,
    );
  }
}

/**
 * Upserts a page of persons; returns the organization ids they touch, including the one a person
 * moved away from (both organizations' contacts may change). `touched: false` (a full listing,
 * which upserts every customer anyway): no lookup of the organizations persons move away from,
 * and only their present organizations are returned.
 */
export async function upsertPersons(
  ds: DataSource,
  persons: PdPerson[],
  seenRunId: string | null,
  opts: { touched?: boolean } = {},
): Promise<Set<number>> {
  const touched = new Set<number>();
  for (const part of chunks(persons)) {
    if (!part.length) continue;
    if (opts.touched !== false) {
      const before = (await ds.query(
        `SELECT org_id FROM persons WHERE org_id IS NOT NULL AND id IN (${part.map(() => '?').join(',')})`,
        part.map((p) => p.id),
      )) as { org_id: string | number }[];
      for (const b of before) touched.add(Number(b.org_id));
    }
    const values: unknown[] = [];
    const tuples = part.map((p) => {
      if (p.orgId) touched.add(p.orgId);
      values.push(
        p.id,
        p.orgId,
        JSON.stringify(p.emails.map((e) => ({ value: e.value, primary: e.primary }))),
        JSON.stringify(p.phones.map((e) => ({ value: e.value, primary: e.primary }))),
        p.isDeleted ? 1 : 0,
        p.updateTime,
        seenRunId,
      );
      return '(?, ?, ?, ?, ?, ?, ?)';
    });
    await ds.query(
      `INSERT INTO persons (id, org_id, emails, phones, is_deleted, update_time, seen_run_id) VALUES ${tuples.join(', ')}
       ON DUPLICATE KEY UPDATE org_id = VALUES(org_id), emails = VALUES(emails), phones = VALUES(phones), is_deleted = VALUES(is_deleted),
         update_time = VALUES(update_time), seen_run_id = COALESCE(VALUES(seen_run_id), seen_run_id)`,
      values,
    );
  }
  return touched;
}

/** After a complete persons listing: persons it did not see are gone; returns their organizations. */
export async function removeUnseenPersons(ds: DataSource, runId: string): Promise<Set<number>> {
  const gone = (await ds.query('SELECT id, org_id FROM persons WHERE seen_run_id IS NULL OR seen_run_id <> ?', [
    runId,
  ])) as { id: string; org_id: string | null }[];
  const orgs = new Set(gone.filter((g) => g.org_id !== null).map((g) => Number(g.org_id)));
  for (const part of chunks(gone.map((g) => Number(g.id))))
    await ds.query(`DELETE FROM persons WHERE id IN (${part.map(() => '?').join(',')})`, part);
  return orgs;
}

/** Replaces the persons of one organization (targeted upsert: its complete person list was fetched). */
export async function replacePersonsOfOrg(ds: DataSource, orgId: number, persons: PdPerson[]): Promise<void> {
  await upsertPersons(ds, persons, null);
  const keep = persons.map((p) => p.id);
  await ds.query(
    `DELETE FROM persons WHERE org_id = ?${keep.length ? ` AND id NOT IN (${keep.map(() => '?').join(',')})` : ''}`,
    [orgId, ...keep],
  );
}

/**
 * After a complete organization listing: organizations it did not see are no longer in Pipedrive
 * (deleted, merged, purged) or no longer in the customer filter. They stop being customers.
 */
export async function markUnseenOrganizations(ds: DataSource, runId: string, deleted: boolean): Promise<number> {
  const res = (await ds.query(
    `UPDATE organizations SET is_customer = 0${deleted ? ', is_deleted = 1' : ''} WHERE (seen_run_id IS NULL OR seen_run_id <> ?) AND (is_customer = 1${deleted ? ' OR is_deleted = 0' : ''})`,
    [runId],
  )) as { affectedRows?: number };
  return res.affectedRows ?? 0;
}

export async function loadOrganizations(ds: DataSource, ids: number[]): Promise<Organization[]> {
  if (!ids.length) return [];
  return ds.getRepository(OrganizationEntity).find({ where: { id: In(ids) } });
}

export async function loadPersonsByOrg(ds: DataSource, orgIds: number[]): Promise<Map<number, Person[]>> {
  const byOrg = new Map<number, Person[]>();
  if (!orgIds.length) return byOrg;
  const rows = await ds
    .getRepository(PersonEntity)
    .find({ where: { orgId: In(orgIds), isDeleted: false }, order: { id: 'ASC' } });
  for (const p of rows) {
    const list = byOrg.get(p.orgId!) ?? [];
    list.push(p);
    byOrg.set(p.orgId!, list);
  }
  return byOrg;
}

/** Ids among `ids` that the mirror knows as customers (not deleted). */
export async function knownCustomers(
  ds: DataSource,
  ids: number[],
): Promise<{ known: Set<number>; customers: number[] }> {
  const rows = ids.length
    ? await ds
        .getRepository(OrganizationEntity)
        .find({ select: { id: true, isCustomer: true, isDeleted: true }, where: { id: In(ids) } })
    : [];
  return {
    known: new Set(rows.map((r) => r.id)),
    customers: rows.filter((r) => r.isCustomer && !r.isDeleted).map((r) => r.id),
  };
}

/** Customers whose contact failed or was never written: every incremental run tries them again. */
export async function retryableCustomers(ds: DataSource): Promise<number[]> {
  const rows = (await ds.query(
    "SELECT id FROM organizations WHERE is_customer = 1 AND is_deleted = 0 AND sync_state IN ('failed', 'pending')",
  )) as { id: string }[];
  return rows.map((r) => Number(r.id));
}

/** Stores what an upsert learned about organizations (contact id, hash, state), inside the caller's transaction. */
export async function saveOrganizationRows(
  m: EntityManager,
  rows: readonly { orgId: number; row: Partial<Organization> }[],
): Promise<void> {
  // Organizations given the same values (every unchanged one of a batch: only its last attempt)
  // share one statement; the others are one each.
  const groups = new Map<string, { row: Partial<Organization>; ids: number[] }>();
  for (const r of rows) {
    if (!Object.keys(r.row).length) continue;
    const key = JSON.stringify(r.row);
    const g = groups.get(key);
    if (g) g.ids.push(r.orgId);
    else groups.set(key, { row: r.row, ids: [r.orgId] });
  }
  for (const { row, ids } of groups.values())
    await m
      .getRepository(OrganizationEntity)
      .update(ids.length === 1 ? { id: ids[0]! } : { id: In(ids) }, row as never);
}
