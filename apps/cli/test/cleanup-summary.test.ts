import { describe, expect, it } from 'vitest';
import type { Run } from '@pcs/db';
import { cleanupSummary } from '../src/commands/cleanup.js';

describe('cleanup summary', () => {
  it('says how many contacts a run covers when its report lists only the first of them', () => {
    const affected = Array.from({ length: 5_000 }, (_, i) => ({
      orgId: i + 1,
      contactId: 10_000 + i,
      action: 'mark',
      result: 'would',
    }));
    const run = {
      id: 7,
      status: 'succeeded',
      mode: 'mark',
      processed: 100_000,
      marked: 0,
      deleted: 0,
      skipped: 0,
      failed: 0,
      details: {
        dryRun: true,
        managed: 100_000,
        stale: 7_500,
        toChange: 7_400,
        changeCount: 7_500,
        affected,
        duplicates: [],
        duplicateCount: 1_200,
        orphans: [],
        orphanCount: 3,
      },
    } as unknown as Run;
    const s = cleanupSummary(run);
    expect(s.affected).toHaveLength(5_000);
    expect(s).toMatchObject({ affectedCount: 7_500, duplicateCount: 1_200, orphanCount: 3 });
  });
});
