import type { Queue } from 'bullmq';
import { RunEntity, type DataSource, type Run } from '@pcs/db';
import { parseDuration } from '@pcs/monitor';
import { onlineWorkers } from '@pcs/queues';
import { color, type Output } from './output.js';
import { CliError, EXIT } from './runtime.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROGRESS_EVERY_MS = 10_000;

/**
 * `--timeout <duration>` of a `--wait` (docs/contract.md §2): milliseconds, or undefined for no
 * limit. A bad duration, or a timeout without --wait, is bad usage (exit 2).
 */
export function waitTimeout(opts: { wait?: boolean; timeout?: string }): number | undefined {
  if (opts.timeout === undefined) return undefined;
  if (!opts.wait) throw new CliError('--timeout goes with --wait (how long to wait for the job)', EXIT.usage);
  const ms = parseDuration(opts.timeout);
  if (!ms)
    throw new CliError(`--timeout: "${opts.timeout}" is not a duration (expected e.g. 90s, 10m, 1h)`, EXIT.usage);
  return ms;
}

export const TIMEOUT_HELP =
  'with --wait: stop waiting after this long (90s, 10m; default no limit) and exit 1; the job goes on';

/** How a wait ended: with the run, or at its --timeout while the job goes on. */
export type WaitResult = { run: Run } | { timedOut: true; state: string; run: Run | null };

/** Says so when no worker serves the queue a job waits in; returns whether it said so. */
export async function warnIfNoWorker(queue: Queue, then = 'still waiting'): Promise<boolean> {
  if ((await onlineWorkers(queue)).length > 0) return false;
  // A warning: on stderr in both modes, so a script reading stdout sees only the result.
  process.stderr.write(
    `${color.yellow(`no worker is serving the ${queue.name} queue: start one with \`pnpm run worker\` (${then})`)}\n`,
  );
  return true;
}

/** An enqueued run not waited for: says so (and when no worker will take it) and prints its document. */
export async function reportQueued(queue: Queue, out: Output, what: string, runId: string, jobId: string | undefined) {
  await warnIfNoWorker(queue, 'the run waits until one starts');
  out.say(`queued ${what} ${runId} (job ${jobId}); follow it with: pnpm manage status`);
  out.document({ runId, jobId, queued: true });
}

/** Waits for the job to start the run (or to hand over to a run already in progress), then for the run to end. */
export async function waitForRun(
  queue: Queue,
  ds: DataSource,
  jobId: string,
  runId: string,
  out: Output,
  progress: (run: Run) => string,
  timeoutMs?: number,
): Promise<WaitResult> {
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
      return { run };
    }
    if (state === 'failed' && (!run || run.status === 'running')) {
      const reason = job?.failedReason ?? 'unknown reason';
      if (run) return { run: (await runs.findOneBy({ id: followed }))! };
      throw Object.assign(new Error(`the job failed before its run started: ${reason}`), { exitCode: 1 });
    }
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
      if (tty && lastLine) process.stderr.write('\n');
      return { timedOut: true, state: run ? 'running' : state, run: run ?? null };
    }
    if (!warnedNoWorker && Date.now() - started > 5_000 && (state === 'waiting' || state === 'prioritized'))
      warnedNoWorker = await warnIfNoWorker(queue);
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

/**
 * A `--wait` that reached its `--timeout` (docs/contract.md §2): says so, prints the document in
 * --json mode, and exits 1. The job is left in its queue: it goes on.
 */
export function reportTimeout(
  out: Output,
  what: string,
  ids: Record<string, unknown>,
  state: string,
  timeoutText: string,
): void {
  const message = `${what} has not ended after ${timeoutText} (it is ${state}); it goes on: follow it with \`pnpm manage status\``;
  out.say(color.yellow(message));
  out.document({ ...ids, timedOut: true, state, message });
  process.exitCode = EXIT.failed;
}
