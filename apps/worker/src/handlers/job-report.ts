import type { Job } from 'bullmq';
import type { JobReport } from '@pcs/sync';

/** How long a progress or log write may take before the job goes on without it. */
export const REPORT_TIMEOUT_MS = 500;

/**
 * A job's report sink (docs/contract.md §4, /admin/queues): progress merged into the job's progress (the typed
 * failure queue-errors.ts records there is kept) and lines of the job's log, both shown by Bull
 * Board. Best effort: each write is bounded and its failure ignored, so Redis away never fails
 * or holds up a run.
 */
export function jobReport(job: Job): JobReport {
  return {
    progress: (p) =>
      bounded(() => {
        const current = job.progress && typeof job.progress === 'object' ? job.progress : {};
        return job.updateProgress({ ...current, ...p });
      }),
    log: (line) => bounded(() => job.log(line)),
  };
}

async function bounded(write: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    write().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REPORT_TIMEOUT_MS);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
