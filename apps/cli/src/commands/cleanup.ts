import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Run } from '@pcs/db';
import { cleanupRunJob } from '@pcs/jobs';
import { enqueue } from '@pcs/queues';
import type { AffectedContact, CleanupReport } from '@pcs/sync';
import { openRuntime } from '../runtime.js';
import { color, createOutput, table } from '../output.js';
import { reportTimeout, TIMEOUT_HELP, waitForRun, waitTimeout, reportQueued } from '../wait.js';

export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .description(
      'enqueue a cleanup of contacts whose organization is no longer a customer (CLEANUP_ACTION: mark or delete)',
    )
    .option('--dry-run', 'change nothing; wait and list exactly what would change')
    .option('--force', 'go on even when more than CLEANUP_MAX_PERCENT of managed contacts would change')
    .option(
      '--merge-duplicates',
      "merge contacts that share one organization into its canonical contact (Chatwoot's merge keeps conversations)",
    )
    .option('--wait', 'wait for the run to end and print what changed (exit 1 when it failed or was refused)')
    .option('--timeout <duration>', TIMEOUT_HELP)
    .option('--json', 'print one JSON document')
    .action(
      async (opts: {
        dryRun?: boolean;
        force?: boolean;
        mergeDuplicates?: boolean;
        wait?: boolean;
        timeout?: string;
        json?: boolean;
      }) => {
        const out = createOutput(Boolean(opts.json));
        // A dry run is asked for its plan: it waits and prints it, --wait or not.
        if (opts.dryRun) opts.wait = true;
        const timeoutMs = waitTimeout(opts);
        const rt = await openRuntime({ redis: true, database: Boolean(opts.wait) });
        try {
          const runId = randomUUID();
          const job = await enqueue(rt.queues!, cleanupRunJob, {
            dryRun: Boolean(opts.dryRun),
            force: Boolean(opts.force),
            mergeDuplicates: Boolean(opts.mergeDuplicates),
            trigger: 'cli',
            runId,
          });
          rt.loggers
            .get('cleanup')
            .info(
              { runId, jobId: job.id, dryRun: Boolean(opts.dryRun), force: Boolean(opts.force) },
              'cleanup run enqueued from the CLI',
            );
          if (!opts.wait) {
            await reportQueued(rt.queues!.cleanup, out, 'cleanup run', runId, job.id);
            return;
          }
          const waited = await waitForRun(
            rt.queues!.cleanup,
            rt.ds!,
            job.id!,
            runId,
            out,
            (r) =>
              `cleanup ${r.id.slice(0, 8)}: ${r.listingComplete ? 'changing contacts…' : 'listing Pipedrive customers and Chatwoot contacts…'}`,
            timeoutMs,
          );
          if ('timedOut' in waited) {
            const id = waited.run?.id ?? runId;
            reportTimeout(out, `cleanup run ${id}`, { runId: id, jobId: job.id }, waited.state, opts.timeout!);
            return;
          }
          const { run } = waited;
          const summary = cleanupSummary(run);
          if (out.json) out.document(summary);
          else out.say(renderCleanup(summary));
          if (run.status === 'failed' || run.status === 'refused') process.exitCode = 1;
        } finally {
          await rt.close();
        }
      },
    );
}

export function cleanupSummary(run: Run) {
  const d = (run.details ?? {}) as Partial<CleanupReport> & { dryRun?: boolean };
  return {
    runId: run.id,
    status: run.status,
    dryRun: Boolean(d.dryRun),
    action: d.action ?? run.mode,
    processed: run.processed,
    marked: run.marked,
    deleted: run.deleted,
    skipped: run.skipped,
    failed: run.failed,
    managed: d.managed ?? 0,
    stale: d.stale ?? 0,
    refused: d.refused ?? null,
    errorType: run.errorType,
    errorMessage: run.errorMessage,
    affected: (d.affected ?? []).map((a: AffectedContact) => ({
      orgId: a.orgId,
      contactId: a.contactId,
      name: a.name,
      action: a.action,
      result: a.result,
      ...(a.intoContactId ? { intoContactId: a.intoContactId } : {}),
    })),
    /** Contacts this run changes (or would); `affected` lists at most the first few thousand. */
    affectedCount: d.changeCount ?? d.affected?.length ?? 0,
    duplicates: d.duplicates ?? [],
    duplicateCount: d.duplicateCount ?? d.duplicates?.length ?? 0,
    orphans: d.orphans ?? [],
    orphanCount: d.orphanCount ?? d.orphans?.length ?? 0,
  };
}

function renderCleanup(s: ReturnType<typeof cleanupSummary>): string {
  const status =
    s.status === 'succeeded'
      ? color.green(s.status)
      : s.status === 'refused' || s.status === 'partial'
        ? color.yellow(s.status)
        : color.red(s.status);
  const lines = [
    `cleanup run ${s.runId}${s.dryRun ? ' (DRY RUN: nothing changed)' : ''}: ${status}, action ${s.action}`,
  ];
  if (s.errorMessage && s.status !== 'refused') lines.push(`  ${s.errorType ?? 'error'}: ${s.errorMessage}`);
  lines.push(`  ${s.managed} managed contacts, ${s.stale} whose organization is no longer a customer`);
  if (s.refused) lines.push(color.yellow(`  refused: ${s.refused}`));
  if (!s.dryRun && !s.refused)
    lines.push(`  marked ${s.marked}, deleted ${s.deleted}, skipped ${s.skipped}, failed ${s.failed}`);
  if (s.affected.length) {
    const verb = (a: (typeof s.affected)[number]) =>
      a.result === 'would' ? `would ${a.action}` : (a.result ?? a.action);
    lines.push(
      '',
      table(
        ['ORG', 'CONTACT', 'NAME', s.dryRun || s.refused ? 'WOULD' : 'RESULT'],
        s.affected.map((a) => [
          a.orgId,
          a.contactId + (a.intoContactId ? ` → ${a.intoContactId}` : ''),
          (a.name ?? '').slice(0, 50),
          verb(a),
        ]),
      ),
    );
    if (s.affectedCount > s.affected.length)
      lines.push(`  (the first ${s.affected.length} of ${s.affectedCount} listed; the run covers all of them)`);
  } else lines.push('  nothing to change');
  if (s.duplicates.length)
    lines.push(
      '',
      `duplicates (contacts sharing one organization${s.duplicateCount > s.duplicates.length ? `, the first ${s.duplicates.length} of ${s.duplicateCount}` : ''}): ${s.duplicates.map((d) => `org ${d.orgId}: ${d.canonicalContactId} ← ${d.duplicateContactIds.join(', ')}`).join('; ')}${s.affected.some((a) => a.action === 'merge') ? '' : ' (merge them with --merge-duplicates)'}`,
    );
  if (s.orphans.length)
    lines.push(
      '',
      `managed contacts the database does not know (${s.orphanCount}): ${s.orphans
        .map((o) => `org ${o.orgId} → contact ${o.contactId}`)
        .slice(0, 20)
        .join(', ')}${s.orphans.length > 20 ? ', …' : ''}`,
    );
  return lines.join('\n');
}
