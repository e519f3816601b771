import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Run } from '@pcs/db';
import { summarizeRun } from '@pcs/ops';
import { syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { CliError, EXIT, openRuntime } from '../runtime.js';
import { color, createOutput } from '../output.js';
import { reportTimeout, TIMEOUT_HELP, waitForRun, waitTimeout, warnIfNoWorker } from '../wait.js';
import { parseOrgIds, syncOrgs } from './sync-orgs.js';

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description(
      'enqueue a sync run (incremental unless --full), or of just some organizations (--org); with --wait, wait and print the run summary',
    )
    .option('--full', 'list every organization instead of the changes since the last run')
    .option(
      '--org <ids>',
      'sync just these Pipedrive organizations now (comma-separated ids), as a webhook event would, whatever their hash',
    )
    .option('--wait', 'wait for the run to end and print its summary (exit 1 when it failed)')
    .option('--timeout <duration>', TIMEOUT_HELP)
    .option('--json', 'print one JSON document')
    .action(async (opts: { full?: boolean; org?: string; wait?: boolean; timeout?: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const timeoutMs = waitTimeout(opts);
      // docs/contract.md §2: `--org` names the organizations; `--full` would list them all.
      if (opts.org !== undefined && opts.full)
        throw new CliError(
          '--org and --full contradict each other: --org syncs just the named organizations',
          EXIT.usage,
        );
      const orgIds = opts.org === undefined ? undefined : parseOrgIds(opts.org);
      const rt = await openRuntime({ redis: true, database: Boolean(opts.wait) });
      try {
        if (orgIds) return await syncOrgs(rt, out, orgIds, { ...opts, timeoutMs });
        const runId = randomUUID();
        const job = await enqueue(rt.queues!, syncRunJob, {
          mode: opts.full ? 'full' : 'incremental',
          trigger: 'cli',
          runId,
        });
        rt.loggers
          .get('sync')
          .info({ runId, jobId: job.id, full: Boolean(opts.full) }, 'sync run enqueued from the CLI');
        if (!opts.wait) {
          await warnIfNoWorker(rt.queues!.sync, 'the run waits until one starts');
          out.say(
            `queued ${opts.full ? 'full' : 'incremental'} sync run ${runId} (job ${job.id}); follow it with: pnpm manage status`,
          );
          out.document({ runId, jobId: job.id, queued: true });
          return;
        }
        const waited = await waitForRun(rt.queues!.sync, rt.ds!, job.id!, runId, out, syncProgress, timeoutMs);
        if ('timedOut' in waited) {
          const id = waited.run?.id ?? runId;
          reportTimeout(out, `sync run ${id}`, { runId: id, jobId: job.id }, waited.state, opts.timeout!);
          return;
        }
        const { run } = waited;
        const summary = {
          ...summarizeRun(run),
          adopted: run.adopted,
          warnings: run.warnings,
          trigger: run.trigger,
          durationMs: run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null,
        };
        if (out.json) out.document(summary);
        else out.say(renderSummary(summary));
        if (run.status === 'failed') process.exitCode = 1;
      } finally {
        await rt.close();
      }
    });
}

function syncProgress(run: Run): string {
  return `run ${run.id.slice(0, 8)} ${run.mode}: ${run.listingComplete ? `batches ${run.batchesDone}/${run.batchesTotal}` : 'listing Pipedrive…'}, ${run.processed} processed (${run.created} created, ${run.updated} updated, ${run.unchanged} unchanged, ${run.failed} failed)`;
}

function renderSummary(
  s: ReturnType<typeof summarizeRun> & { adopted: number; warnings: number; durationMs: number | null },
): string {
  const status =
    s.status === 'succeeded'
      ? color.green(s.status)
      : s.status === 'partial'
        ? color.yellow(s.status)
        : color.red(s.status);
  const lines = [
    `sync run ${s.runId} (${s.mode}): ${status} in ${s.durationMs === null ? '-' : `${(s.durationMs / 1000).toFixed(1)} s`}`,
    `  processed ${s.processed}: created ${s.created}, updated ${s.updated}, adopted ${s.adopted}, unchanged ${s.unchanged}, failed ${s.failed}; ${s.warnings} written with a value left off`,
  ];
  if (s.errorMessage) lines.push(`  ${s.errorType ?? 'error'}: ${s.errorMessage}`);
  if (s.status === 'partial')
    lines.push(
      '  each organization left partly written or failed has a warning line in logs/sync (and a row in record_outcomes)',
    );
  return lines.join('\n');
}
