import { describe, expect, it } from 'vitest';
import type { Run } from '@pcs/db';
import { summarizeAlert, summarizeRun } from '../src/index.js';

const run = (over: Partial<Run> = {}): Run => ({
  id: 'r1',
  type: 'sync',
  mode: 'full',
  trigger: 'schedule',
  status: 'running',
  startedAt: new Date('2026-12-01T10:00:00Z'),
  finishedAt: null,
  listingStartedAt: null,
  listingComplete: true,
  batchesTotal: 4,
  batchesDone: 1,
  processed: 50,
  created: 50,
  updated: 0,
  unchanged: 0,
  adopted: 0,
  warnings: 0,
  failed: 0,
  marked: 0,
  deleted: 0,
  skipped: 0,
  errorType: null,
  errorMessage: null,
  errorKind: null,
  errorSource: null,
  details: null,
  jobId: 'j1',
  leaseUntil: new Date('2026-12-01T10:02:00Z'),
  alertsDone: false,
  ...over,
});

describe('summaries for the CLI and the status API', () => {
  it('a running run shows its progress and lease; an ended one its typed failure and no lease', () => {
    expect(summarizeRun(run())).toMatchObject({
      status: 'running',
      batchesDone: 1,
      batchesTotal: 4,
      leaseUntil: '2026-12-01T10:02:00.000Z',
    });
    const aborted = summarizeRun(
      run({
        status: 'failed',
        errorKind: 'aborted',
        errorType: 'aborted',
        errorMessage: 'aborted by an operator',
        finishedAt: new Date(),
      }),
    );
    expect(aborted).toMatchObject({ status: 'failed', errorKind: 'aborted', leaseUntil: null });
  });

  it('a silence that ended shows as none', () => {
    const base = {
      fingerprint: 'f',
      state: 'firing' as const,
      level: 'ERROR',
      script: 'monitor',
      errorType: 'auth issue',
      message: 'm',
      details: null,
      firstFiredAt: new Date('2026-12-01T09:00:00Z'),
      lastFiredAt: null,
      lastNotifiedAt: null,
      resolvedAt: null,
      notifyCount: 1,
      silenceReason: null,
      updatedAt: new Date(),
    };
    const now = new Date('2026-12-01T12:00:00Z');
    expect(summarizeAlert({ ...base, silencedUntil: new Date('2026-12-01T11:00:00Z') }, now).silencedUntil).toBeNull();
    expect(summarizeAlert({ ...base, silencedUntil: new Date('2026-12-01T13:00:00Z') }, now).silencedUntil).toBe(
      '2026-12-01T13:00:00.000Z',
    );
  });
});
