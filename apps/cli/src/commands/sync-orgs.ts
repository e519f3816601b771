import type { Job, Queue } from 'bullmq';
import { RunEntity, type DataSource, type Run } from '@pcs/db';
import { operatorSyncOptions, syncOrgJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import type { TargetedResult } from '@pcs/sync';
import { color, table, type Output } from '../output.js';
import { CliError, EXIT, type Runtime } from '../runtime.js';
import { reportTimeout, warnIfNoWorker } from '../wait.js';

/**
 * `manage sync --org <id>[,<id>…]` (docs/contract.md §2): those organizations now, as a webhook
 * event would (one targeted `sync-org` job each, trigger `cli`), but at once and whatever their
 * stored hash (`force`). With --wait, one summary over their targeted runs.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROGRESS_EVERY_MS = 10_000;

/** `--org 12,34`: safe positive whole numbers, each once; a bad one is bad usage (exit 2) naming it. */
export function parseOrgIds(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  const ids: number[] = [];
  for (const part of parts) {
    const id = /^\d+$/.test(part) ? Number(part) : NaN;
    if (!Number.isSafeInteger(id) || id < 1)
      throw new CliError(
        `--org: "${part}" is not an organization id (expected positive whole numbers, comma-separated: --org 12,34)`,
        EXIT.usage,
      );
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** What became of one organization's targeted sync. */
export interface OrgOutcome {
  orgId: number;
  jobId: string;
  runId: string | null;
  /** created | updated | adopted | unchanged | warning | failed | not a customer | gone */
  outcome: string;
  message: string | null;
}

export interface OrgSyncSummary {
  /** The one targeted run's id when there is exactly one; see runIds. */
  runId: string | null;
  runIds: string[];
  type: 'sync';
  mode: 'targeted';
  trigger: 'cli';
  status: 'succeeded' | 'partial' | 'failed';
  processed: number;
  created: number;
  updated: number;
  adopted: number;
  unchanged: number;
  warnings: number;
  failed: number;
  orgs: OrgOutcome[];
}

export async function syncOrgs(
  rt: Runtime,
  out: Output,
  orgIds: number[],
  opts: { wait?: boolean; timeout?: string; timeoutMs?: number },
): Promise<void> {
  const queue = rt.queues!.sync;
  await warnIfNoWorker(queue, opts.wait ? 'waiting anyway' : 'the jobs wait until one starts');
  const queued: { orgId: number; jobId: string }[] = [];
  const jobs: Job[] = [];
  for (const orgId of orgIds) {
    const job = await enqueue(rt.queues!, syncOrgJob, { orgId, trigger: 'cli', force: true }, operatorSyncOptions());
    jobs.push(job);
    queued.push({ orgId, jobId: job.id! });
  }
  rt.loggers.get('sync').info({ queued }, 'targeted syncs enqueued from the CLI');
  if (!opts.wait) {
    out.say(
      `queued a targeted sync of ${orgIds.length === 1 ? 'organization' : 'organizations'} ${queued.map((q) => `${q.orgId} (job ${q.jobId})`).join(', ')}; follow with: pnpm manage org <id>`,
    );
    out.document({ queued });
    return;
  }
  const waited = await waitForJobs(queue, jobs, out, opts.timeoutMs);
  if (waited.timedOut) {
    const pending = queued.filter((q) => !waited.done.has(q.jobId));
    reportTimeout(
      out,
      `the targeted sync of ${pending.map((p) => `organization ${p.orgId}`).join(', ')}`,
      { queued, pending: pending.map((p) => p.orgId) },
      waited.state,
      opts.timeout!,
    );
    return;
  }
  const summary = await summarize(rt.ds!, jobs, waited.done);
  if (out.json) out.document(summary);
  else out.say(renderOrgSummary(summary));
  if (summary.failed > 0) process.exitCode = EXIT.failed;
}

type Ended = { state: 'completed'; value: TargetedResult } | { state: 'failed'; reason: string };

/** Waits until every job completed or failed for good (retries included), or the timeout. */
async function waitForJobs(
  queue: Queue,
  jobs: Job[],
  out: Output,
  timeoutMs?: number,
): Promise<{ done: Map<string, Ended>; timedOut: boolean; state: string }> {
  const done = new Map<string, Ended>();
  const started = Date.now();
  let lastPrinted = started;
  let state = 'waiting';
  for (;;) {
    for (const job of jobs) {
      if (done.has(job.id!)) continue;
      const current = await queue.getJob(job.id!);
      const s = current ? await current.getState() : 'unknown';
      if (s === 'completed') done.set(job.id!, { state: 'completed', value: current!.returnvalue as TargetedResult });
      else if (s === 'failed')
        done.set(job.id!, { state: 'failed', reason: current?.failedReason || 'unknown reason' });
      else if (s === 'unknown') done.set(job.id!, { state: 'failed', reason: 'the job is gone from the queue' });
      else state = s;
    }
    if (done.size === jobs.length) return { done, timedOut: false, state: 'completed' };
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) return { done, timedOut: true, state };
    if (Date.now() - lastPrinted >= PROGRESS_EVERY_MS) {
      lastPrinted = Date.now();
      out.say(
        `[${Math.round((Date.now() - started) / 1000)} s] ${done.size} of ${jobs.length} organizations done (the others ${state})`,
      );
    }
    await sleep(300);
  }
}

async function summarize(ds: DataSource, jobs: Job[], done: Map<string, Ended>): Promise<OrgSyncSummary> {
  const runsRepo = ds.getRepository(RunEntity);
  const orgs: OrgOutcome[] = [];
  const runs: Run[] = [];
  for (const job of jobs) {
    const orgId = (job.data as { orgId: number }).orgId;
    const ended = done.get(job.id!)!;
    if (ended.state === 'completed') {
      const v = ended.value;
      const run = v.runId ? await runsRepo.findOneBy({ id: v.runId }) : null;
      if (run) runs.push(run);
      orgs.push({ orgId, jobId: job.id!, runId: v.runId ?? null, outcome: v.outcome, message: v.message ?? null });
    } else {
      // Failed for good after its retries: its last targeted run (each attempt begins one) says why.
      const run = await runsRepo.findOne({ where: { jobId: job.id! }, order: { startedAt: 'DESC' } });
      if (run) runs.push(run);
      orgs.push({
        orgId,
        jobId: job.id!,
        runId: run?.id ?? null,
        outcome: 'failed',
        message: run?.errorMessage ?? ended.reason,
      });
    }
  }
  const sum = (k: 'processed' | 'created' | 'updated' | 'adopted' | 'unchanged' | 'warnings' | 'failed') =>
    runs.reduce((n, r) => n + r[k], 0);
  // A run that failed as a whole recorded no outcome: its organization still counts as failed.
  const failedWithoutOutcome = orgs.filter(
    (o) => o.outcome === 'failed' && !runs.some((r) => r.id === o.runId && r.failed > 0),
  ).length;
  const failed = sum('failed') + failedWithoutOutcome;
  const warnings = sum('warnings');
  const runIds = runs.map((r) => r.id);
  return {
    runId: runIds.length === 1 ? runIds[0]! : null,
    runIds,
    type: 'sync',
    mode: 'targeted',
    trigger: 'cli',
    status:
      orgs.length > 0 && orgs.every((o) => o.outcome === 'failed')
        ? 'failed'
        : failed > 0 || warnings > 0
          ? 'partial'
          : 'succeeded',
    processed: sum('processed') + failedWithoutOutcome,
    created: sum('created'),
    updated: sum('updated'),
    adopted: sum('adopted'),
    unchanged: sum('unchanged'),
    warnings,
    failed,
    orgs,
  };
}

function outcomeText(outcome: string): string {
  if (outcome === 'failed') return color.red(outcome);
  if (outcome === 'warning' || outcome === 'gone' || outcome === 'not a customer') return color.yellow(outcome);
  return color.green(outcome);
}

export function renderOrgSummary(s: OrgSyncSummary): string {
  const status =
    s.status === 'succeeded'
      ? color.green(s.status)
      : s.status === 'partial'
        ? color.yellow(s.status)
        : color.red(s.status);
  return [
    `targeted sync of ${s.orgs.length} ${s.orgs.length === 1 ? 'organization' : 'organizations'}: ${status}`,
    `  processed ${s.processed}: created ${s.created}, updated ${s.updated}, adopted ${s.adopted}, unchanged ${s.unchanged}, failed ${s.failed}; ${s.warnings} written with a value left off`,
    '',
    table(
      ['ORG', 'OUTCOME', 'RUN', 'MESSAGE'],
      s.orgs.map((o) => [o.orgId, outcomeText(o.outcome), o.runId ?? '-', o.message ?? '']),
    ),
  ].join('\n');
}
