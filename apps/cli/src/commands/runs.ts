import type { Command } from 'commander';
import type { Run } from '@pcs/db';
import { batchJobId, cleanupRunJob, syncRunJob } from '@pcs/jobs';
import { summarizeRun } from '@pcs/ops';
import { Runs } from '@pcs/sync/runs';
import { CliError, EXIT, openRuntime, type Runtime } from '../runtime.js';
import { color, createOutput } from '../output.js';
import { runsTable } from '../runs-view.js';

/**
 * `manage runs`: recent sync and cleanup runs, running ones first, with their progress and lease.
 * `manage runs abort <id>`: ends a running run as failed (reason `aborted`) and removes its
 * pending jobs, so the next run is not held up by it (docs/contract.md §2).
 */
export function registerRuns(program: Command): void {
  const runs = program
    .command('runs')
    .description(
      'recent sync and cleanup runs, running ones first, with their progress; `abort <id>` ends a running one',
    )
    .option('--json', 'print one JSON document')
    .option('-n, --limit <n>', 'how many ended runs to show', '20')
    .action(async (opts: { json?: boolean; limit: string }) => {
      const out = createOutput(Boolean(opts.json));
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new CliError(`--limit: "${opts.limit}" is not a positive whole number`, EXIT.usage);
      const rt = await openRuntime({ database: true });
      try {
        const list = (await new Runs(rt.ds!).recent(limit)).map(summarizeRun);
        out.document({ runs: list });
        if (!out.json) out.say(list.length ? runsTable(list) : 'No runs yet.');
      } finally {
        await rt.close();
      }
    });

  runs
    .command('abort <runId>')
    .description('end a running run as failed (reason aborted) and remove its pending jobs')
    .option('--json', 'print one JSON document')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const rt = await openRuntime({ database: true, redis: true });
      try {
        const store = new Runs(rt.ds!);
        const before = await store.get(runId);
        if (!before) throw new CliError(`no run with id ${runId}`, EXIT.failed);
        const ended = await store.abort(runId, 'an operator (manage runs abort)');
        if (!ended) throw new CliError(`run ${runId} is not running (it is ${before.status})`, EXIT.failed);
        const removed = await removePendingJobs(rt, ended);
        rt.loggers
          .get(ended.type === 'cleanup' ? 'cleanup' : 'sync')
          .warn({ runId, removedJobs: removed }, 'run aborted from the CLI');
        out.say(
          color.yellow(`run ${runId} aborted: ended as failed (aborted); ${removed.length} pending job(s) removed`),
        );
        out.document({ run: summarizeRun(ended), removedJobs: removed });
      } finally {
        await rt.close();
      }
    });
}

/**
 * Removes the run's jobs that have not started (its listing job, its batches). A job running
 * right now finishes its step and stops: it sees the run has ended.
 */
async function removePendingJobs(rt: Runtime, run: Run): Promise<string[]> {
  const queue = rt.queues![run.type === 'cleanup' ? cleanupRunJob.queue : syncRunJob.queue];
  const ids = new Set<string>();
  if (run.jobId) ids.add(run.jobId);
  if (run.type === 'sync' && run.mode !== 'webhook') {
    // Batches queued so far (their number is kept as the listing goes).
    for (let b = 0; b < run.batchesTotal; b++) ids.add(batchJobId(run.id, b));
  }
  const removed: string[] = [];
  for (const id of ids) {
    const job = await queue.getJob(id);
    if (!job) continue;
    const state = await job.getState();
    if (state === 'active' || state === 'completed' || state === 'failed') continue;
    try {
      await job.remove();
      removed.push(id);
    } catch {
      // Taken by a worker a moment ago: it will see the run has ended.
    }
  }
  return removed;
}
