import type { Queue } from 'bullmq';
import { RunEntity, type DataSource, type Run } from '@pcs/db';
import { onlineWorkers } from '@pcs/queues';
import { color, type Output } from './output.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROGRESS_EVERY_MS = 10_000;

/** Says so when no worker serves the queue a job waits in; returns whether it said so. */
export async function warnIfNoWorker(queue: Queue, out: Output): Promise<boolean> {
  if ((await onlineWorkers(queue)).length > 0) return false;
  out.say(
    color.yellow(`no worker is serving the ${queue.name} queue: start one with \`pnpm run worker\` (still waiting)`),
  );
  return true;
}

/** Waits for the job to start the run (or to hand over to a run already in progress), then for the run to end. */
export async function waitForRun(
  queue: Queue,
  ds: DataSource,
  jobId: string,
  runId: string,
  out: Output,
  progress: (run: Run) => string,
): Promise<Run> {
  const runs = ds.getRepository(RunEntity);
  const tty = process.stderr.isTTY && !out.json;
  let followed = runId;
  let warnedNoWorker = false;
  let lastLine = '';
  const started = Date.now();
  let lastPrinted = started;
  for (;;) {
    const job = await queue.getJob(jobId);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'completed' && job?.returnvalue && typeof job.returnvalue === 'object') {
      const rv = job.returnvalue as { activeRunId?: string; skipped?: boolean };
      if (rv.skipped && rv.activeRunId && rv.activeRunId !== followed) {
        followed = rv.activeRunId;
        out.say(`a run was already in progress: following run ${followed}`);
      }
    }
    const run = await runs.findOneBy({ id: followed });
    if (run && run.status !== 'running') {
      if (tty && lastLine) process.stderr.write('\n');
      return run;
    }
    if (state === 'failed' && (!run || run.status === 'running')) {
      const reason = job?.failedReason ?? 'unknown reason';
      if (run) return (await runs.findOneBy({ id: followed }))!;
      throw Object.assign(new Error(`the job failed before its run started: ${reason}`), { exitCode: 1 });
    }
    if (!warnedNoWorker && Date.now() - started > 5_000 && (state === 'waiting' || state === 'prioritized'))
      warnedNoWorker = await warnIfNoWorker(queue, out);
    if (tty && run) {
      const line = progress(run);
      if (line !== lastLine) process.stderr.write(`\r${line.padEnd(lastLine.length)}`);
      lastLine = line;
    } else if (!tty && Date.now() - lastPrinted >= PROGRESS_EVERY_MS) {
      // Not a terminal (a log, CI, `--json`): a line now and then, so a long wait never looks hung.
      lastPrinted = Date.now();
      out.say(`[${Math.round((Date.now() - started) / 1000)} s] ${run ? progress(run) : `job ${jobId} ${state}`}`);
    }
    await sleep(500);
  }
}
