import { describe, expect, it } from 'vitest';
import type { CwContact } from '@pcs/chatwoot';
import { ManagedContacts, managedOrgId, planCleanup, REPORT_LIST_CAP, type PlanInput } from '../src/cleanup-plan.js';

/** A managed contact as the Chatwoot client returns it. */
function contact(id: number, orgId: number, opts: { canonical?: boolean; former?: boolean; name?: string } = {}) {
  const c: CwContact = {
    id,
    name: opts.name ?? `Contact ${id}`,
    email: `c${id}@example.test`,
    phoneNumber: null,
    identifier: opts.canonical === false ? null : `pipedrive:org:${orgId}`,
    additionalAttributes: { company_name: `Org ${orgId}` },
    customAttributes: {
      pipedrive_org_id: orgId,
      status: opts.former ? 'Former customer' : 'Customer',
      type: 'organization',
    },
    createdAt: null,
    lastActivityAt: null,
  };
  return c;
}

/** The listing of a run: contacts in listing order, the database's contact id per org, the customers. */
function plan(
  listed: CwContact[],
  known: Record<number, number | null>,
  customers: number[],
  opts: Partial<Omit<PlanInput, 'managed' | 'customers'>> = {},
) {
  const set = new Set(customers);
  const managed = new ManagedContacts();
  for (const c of listed) {
    const orgId = managedOrgId(c)!;
    managed.add(c, orgId, known[orgId], set.has(orgId));
  }
  const p = planCleanup({
    managed,
    customers: set,
    action: 'mark',
    mergeDuplicates: false,
    force: false,
    maxPercent: 50,
    ...opts,
  });
  return { ...p, list: [...p.changes()] };
}

describe('cleanup plan', () => {
  it('changes the contacts of organizations that stopped being customers, by org id, skipping those marked already', () => {
    const p = plan(
      [contact(30, 3), contact(10, 1), contact(20, 2, { former: true }), contact(40, 4), contact(50, 5)],
      { 1: 10, 2: 20, 3: 30, 4: 40, 5: 50 },
      [4, 5],
    );
    expect(p.report).toMatchObject({ managed: 5, stale: 3, toChange: 2, duplicateCount: 0, orphanCount: 0 });
    expect(p.report.refused).toBeUndefined();
    expect(p.list.map((c) => [c.orgId, c.contactId, c.action, c.name])).toEqual([
      [1, 10, 'mark', 'Contact 10'],
      [3, 30, 'mark', 'Contact 30'],
    ]);
    expect(p.changeCount).toBe(2);
    // deleting: a contact marked already is deleted too
    const del = plan([contact(10, 1), contact(20, 2, { former: true }), contact(40, 4)], { 1: 10, 2: 20, 4: 40 }, [4], {
      action: 'delete',
      maxPercent: 100,
    });
    expect(del.list.map((c) => [c.contactId, c.action])).toEqual([
      [10, 'delete'],
      [20, 'delete'],
    ]);
  });

  it('finds duplicates: the canonical contact is the one with our identifier, else the one the database knows, else the oldest', () => {
    const listed = [
      contact(7, 1, { canonical: false, name: 'Old copy' }),
      contact(9, 1),
      contact(3, 2, { canonical: false }),
      contact(5, 2, { canonical: false, name: 'Known one' }),
      contact(11, 3, { canonical: false }),
      contact(12, 3, { canonical: false }),
      contact(13, 4),
    ];
    const p = plan(listed, { 1: 9, 2: 5, 3: null, 4: 13 }, [1, 2, 3, 4], { mergeDuplicates: true });
    expect(p.report.duplicates).toEqual([
      { orgId: 1, canonicalContactId: 9, duplicateContactIds: [7] },
      { orgId: 2, canonicalContactId: 5, duplicateContactIds: [3] },
      { orgId: 3, canonicalContactId: 11, duplicateContactIds: [12] },
    ]);
    expect(p.report.duplicateCount).toBe(3);
    // org 3: the database knows no contact of it
    expect(p.report.orphans).toEqual([{ orgId: 3, contactId: 11, name: 'Contact 11' }]);
    expect(p.list).toEqual([
      expect.objectContaining({ orgId: 1, contactId: 7, name: 'Old copy', action: 'merge', intoContactId: 9 }),
      expect.objectContaining({ orgId: 2, contactId: 3, name: 'Contact 3', action: 'merge', intoContactId: 5 }),
      expect.objectContaining({ orgId: 3, contactId: 12, name: 'Contact 12', action: 'merge', intoContactId: 11 }),
    ]);
    expect(p.report.toChange).toBe(0);
    // without --merge-duplicates: reported, not merged
    expect(plan(listed, { 1: 9, 2: 5, 3: null, 4: 13 }, [1, 2, 3, 4]).list).toEqual([]);
  });

  it('merges duplicates of a stale organization after marking; deleting, it does not merge them', () => {
    const listed = [contact(1, 1), contact(2, 1, { canonical: false, name: 'Copy' }), contact(3, 2)];
    const marked = plan(listed, { 1: 1, 2: 3 }, [2], { mergeDuplicates: true, maxPercent: 100 });
    expect(marked.list.map((c) => [c.contactId, c.action])).toEqual([
      [1, 'mark'],
      [2, 'mark'],
      [2, 'merge'],
    ]);
    const deleted = plan(listed, { 1: 1, 2: 3 }, [2], { mergeDuplicates: true, maxPercent: 100, action: 'delete' });
    expect(deleted.list.map((c) => [c.contactId, c.action])).toEqual([
      [1, 'delete'],
      [2, 'delete'],
    ]);
  });

  it('counts a contact listed twice (pages shifting under the listing) once', () => {
    const p = plan([contact(1, 1), contact(2, 2), contact(1, 1)], { 1: 1, 2: 2 }, [2]);
    expect(p.report).toMatchObject({ managed: 2, stale: 1, duplicateCount: 0 });
    expect(p.list.map((c) => c.contactId)).toEqual([1]);
  });

  it('refuses above CLEANUP_MAX_PERCENT unless forced, still listing what would change', () => {
    const listed = Array.from({ length: 10 }, (_, i) => contact(100 + i, i + 1));
    const known = Object.fromEntries(listed.map((c, i) => [i + 1, c.id]));
    const p = plan(listed, known, [5, 6, 7, 8, 9, 10], { maxPercent: 10 });
    expect(p.report.refused).toBe(
      '4 of 10 managed contacts (40.0%) would change, above CLEANUP_MAX_PERCENT=10%: nothing changed; check Pipedrive, then run `pnpm manage cleanup --force` if this is right',
    );
    expect(p.list.map((c) => c.orgId)).toEqual([1, 2, 3, 4]);
    expect(plan(listed, known, [5, 6, 7, 8, 9, 10], { maxPercent: 10, force: true }).report.refused).toBeUndefined();
    expect(plan(listed, known, [5, 6, 7, 8, 9, 10], { maxPercent: 40 }).report.refused).toBeUndefined();
  });

  it('caps the lists of a report and counts them all', () => {
    const n = REPORT_LIST_CAP.orphans + 500;
    const p = plan(
      Array.from({ length: n }, (_, i) => contact(i + 1, i + 1)),
      {},
      Array.from({ length: n }, (_, i) => i + 1),
    );
    expect(p.report.orphanCount).toBe(n);
    expect(p.report.orphans).toHaveLength(REPORT_LIST_CAP.orphans);
    expect(p.report.orphans[0]).toEqual({ orgId: 1, contactId: 1, name: 'Contact 1' });
  });
});
