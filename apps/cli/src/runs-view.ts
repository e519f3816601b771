import type { RunSummary } from '@pcs/ops';
import { ago, color, table } from './output.js';

/** What a run is doing, in a few words (the `runs` and `status` tables). */
export function progressOf(r: RunSummary): string {
  if (r.type === 'cleanup') return r.listingComplete ? `${r.processed} changes` : 'listing';
  if (r.mode === 'webhook') return '1 organization';
  if (!r.listingComplete) return `listing (${r.batchesTotal} batches queued)`;
  return `batches ${r.batchesDone}/${r.batchesTotal}`;
}

/** A running run's lease: when it runs out without progress, the reaper looks at the run's jobs. */
export function leaseOf(r: RunSummary, now = Date.now()): string {
  if (r.status !== 'running') return '-';
  if (!r.leaseUntil) return color.red('none');
  const left = Date.parse(r.leaseUntil) - now;
  return left >= 0 ? `${Math.ceil(left / 1000)}s left` : color.red(`expired ${ago(r.leaseUntil)}`);
}

function statusOf(r: RunSummary): string {
  if (r.status === 'succeeded') return color.green(r.status);
  if (r.status === 'running') return color.bold(r.status);
  if (r.status === 'partial' || r.status === 'refused') return color.yellow(r.status);
  return color.red(r.errorKind ? `${r.status} (${r.errorKind})` : r.status);
}

export function runsTable(runs: RunSummary[]): string {
  return table(
    ['RUN', 'TYPE', 'MODE', 'STATUS', 'STARTED', 'PROGRESS', 'PROCESSED', 'LEASE', 'ERROR'],
    runs.map((r) => [
      r.runId,
      r.type,
      r.mode,
      statusOf(r),
      ago(r.startedAt),
      progressOf(r),
      r.processed,
      leaseOf(r),
      (r.errorMessage ?? '').slice(0, 60),
    ]),
  );
}
