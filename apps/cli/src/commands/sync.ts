import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { DataSource, Run } from '@pcs/db';
import { summarizeRun } from '@pcs/ops';
import { syncRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import { CliError, EXIT, openRuntime } from '../runtime.js';
import { color, createOutput, table } from '../output.js';
import { reportTimeout, TIMEOUT_HELP, waitForRun, waitTimeout, reportQueued } from '../wait.js';
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
    .option(
      '--dry-run',
      'write nothing to Chatwoot (nor the stored hashes or contact ids); wait and list, by org id, what would be created, adopted, updated and left unchanged',
    )
    .option('--wait', 'wait for the run to end and print its summary (exit 1 when it failed)')
    .option('--timeout <duration>', TIMEOUT_HELP)
    .option('--json', 'print one JSON document')
    .action(
      async (opts: {
        full?: boolean;
        org?: string;
        dryRun?: boolean;
        wait?: boolean;
        timeout?: string;
        json?: boolean;
      }) => {
        const out = createOutput(Boolean(opts.json));
        // docs/contract.md §2: a dry run is only worth its plan, so it waits for it.
        if (opts.dryRun) opts.wait = true;
        const timeoutMs = waitTimeout(opts);
        if (opts.org !== undefined && opts.dryRun)
          throw new CliError('--dry-run plans a listing run; it does not combine with --org', EXIT.usage);
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
            ...(opts.dryRun ? { dryRun: true } : {}),
          });
          rt.loggers
            .get('sync')
            .info(
              { runId, jobId: job.id, full: Boolean(opts.full), dryRun: Boolean(opts.dryRun) },
              'sync run enqueued from the CLI',
            );
          if (!opts.wait) {
            await reportQueued(rt.queues!.sync, out, `${opts.full ? 'full' : 'incremental'} sync run`, runId, job.id);
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
          if (opts.dryRun && run.id !== runId) {
            // Another sync was in progress: this dry run never began, and that run's outcomes are no plan.
            throw new CliError(
              `another sync run (${run.id}) was in progress: the dry run did not run; try again when it has ended`,
              EXIT.failed,
            );
          }
          if (opts.dryRun) {
            const plan = await readPlan(rt.ds!, run.id);
            if (out.json) out.document({ ...summary, dryRun: true, ...plan });
            else out.say(renderPlan(summary, plan));
          } else if (out.json) out.document(summary);
          else out.say(renderSummary(summary));
          if (run.status === 'failed') process.exitCode = 1;
        } finally {
          await rt.close();
        }
      },
    );
}

/** The most plan entries printed (the counts cover them all). */
export const PLAN_LIMIT = 5_000;

const PLAN_ACTIONS: Record<string, PlanEntry['action']> = {
  created: 'create',
  adopted: 'adopt',
  updated: 'update',
  unchanged: 'unchanged',
  warning: 'update',
  failed: 'failed',
};

interface PlanEntry {
  orgId: number;
  action: 'create' | 'adopt' | 'update' | 'unchanged' | 'failed';
  contactId?: number;
  fields?: string[];
  message?: string;
}

interface Plan {
  plan: PlanEntry[];
  planTotal: number;
  planTruncated: boolean;
}

/** A dry run's plan: its recorded outcomes, by org id (docs/contract.md §2; see packages/sync/src/upsert.ts planOrganization). */
async function readPlan(ds: DataSource, runId: string): Promise<Plan> {
  const [rows, total] = await Promise.all([
    ds.query('SELECT org_id, outcome, message FROM record_outcomes WHERE run_id = ? ORDER BY org_id LIMIT ?', [
      runId,
      PLAN_LIMIT,
    ]) as Promise<{ org_id: string | number; outcome: string; message: string | null }[]>,
    ds.query('SELECT COUNT(*) AS n FROM record_outcomes WHERE run_id = ?', [runId]) as Promise<
      { n: string | number }[]
    >,
  ]);
  const plan = rows.map((r): PlanEntry => {
    const entry: PlanEntry = { orgId: Number(r.org_id), action: PLAN_ACTIONS[r.outcome] ?? 'failed' };
    let parsed: { dryRun?: boolean; contactId?: number; fields?: string[] } | undefined;
    try {
      parsed = r.message ? (JSON.parse(r.message) as typeof parsed) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed?.dryRun) {
      if (parsed.contactId !== undefined) entry.contactId = parsed.contactId;
      if (entry.action === 'update' || entry.action === 'adopt') entry.fields = parsed.fields ?? [];
    } else if (r.message) entry.message = r.message;
    return entry;
  });
  const planTotal = Number(total[0]?.n ?? 0);
  return { plan, planTotal, planTruncated: planTotal > plan.length };
}

function renderPlan(s: ReturnType<typeof summarizeRun> & { adopted: number }, p: Plan): string {
  const status = s.status === 'failed' ? color.red(s.status) : s.status;
  const lines = [
    `DRY RUN of a ${s.mode} sync (run ${s.runId}, ${status}): nothing was written to Chatwoot`,
    `  would create ${s.created}, adopt ${s.adopted}, update ${s.updated}, leave unchanged ${s.unchanged}; ${s.failed} could not be compared`,
  ];
  if (s.errorMessage) lines.push(`  ${s.errorType ?? 'error'}: ${s.errorMessage}`);
  const shown = p.plan.filter((e) => e.action !== 'unchanged');
  if (shown.length) {
    lines.push(
      '',
      table(
        ['ORG', 'ACTION', 'CONTACT', 'FIELDS'],
        shown.map((e) => [
          e.orgId,
          e.action,
          e.contactId ?? '-',
          e.action === 'failed' ? (e.message ?? '') : e.fields?.length ? e.fields.join(', ') : '-',
        ]),
      ),
    );
  }
  if (s.unchanged) lines.push('', `${s.unchanged} organization(s) unchanged (listed with --json)`);
  if (p.planTruncated) lines.push(`(the plan lists the first ${p.plan.length} of ${p.planTotal} organizations)`);
  return lines.join('\n');
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
