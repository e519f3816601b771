import type { Command } from 'commander';
import { describeOrg, type OrgDocument } from '@pcs/ops';
import { CliError, EXIT, openRuntime } from '../runtime.js';
import { ago, color, createOutput, table } from '../output.js';

/**
 * `manage org <id>`: what the sync knows of one organization — customer or not and why, its
 * contact, when it was last written and seen, the values left off and why, its last error and its
 * recent per-run outcomes (docs/contract.md §2). Exit 1 for an organization the sync never saw.
 */
export function registerOrg(program: Command): void {
  program
    .command('org')
    .description('what the sync knows of one organization: customer or not, contact, values left off, recent outcomes')
    .argument('<orgId>', 'the Pipedrive organization id')
    .option('--json', 'print one JSON document')
    .action(async (raw: string, opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const orgId = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!Number.isSafeInteger(orgId) || orgId < 1)
        throw new CliError(`<orgId>: "${raw}" is not an organization id (a positive whole number)`, EXIT.usage);
      const rt = await openRuntime({ database: true });
      try {
        const doc = await describeOrg(rt.ds!, orgId, rt.config);
        if (!doc)
          throw new CliError(
            `organization ${orgId} is unknown to the sync: no run has listed it and no webhook event named it`,
            EXIT.failed,
          );
        out.document(doc);
        if (!out.json) out.say(renderOrg(doc));
      } finally {
        await rt.close();
      }
    });
}

const when = (iso: string | null) => (iso ? `${iso} (${ago(iso)})` : 'never');

function outcomeOf(outcome: string): string {
  if (outcome === 'failed') return color.red(outcome);
  if (outcome === 'warning' || outcome === 'marked' || outcome === 'deleted') return color.yellow(outcome);
  return outcome;
}

export function renderOrg(doc: OrgDocument): string {
  const state =
    doc.syncState === 'synced'
      ? color.green(doc.syncState)
      : doc.syncState === 'failed'
        ? color.red(doc.syncState)
        : color.yellow(doc.syncState);
  const fields: [string, string][] = [
    ['Customer', `${doc.customer ? color.green('yes') : color.yellow('no')} — ${doc.customerReason}`],
    ['Contact', `${doc.contactId ?? 'none stored'}${doc.contactStatus ? ` (${doc.contactStatus})` : ''}`],
    ['Sync state', state],
    ['Last written', when(doc.lastWrittenAt)],
    ['Last attempt', when(doc.lastAttemptAt)],
    ['Last seen', doc.lastSeenAt ? `${when(doc.lastSeenAt)}, run ${doc.lastSeenRunId}` : 'not by a complete listing'],
    ['Pipedrive update', when(doc.pipedriveUpdatedAt)],
    ['Persons', String(doc.persons)],
  ];
  if (doc.customerBasis.by === 'label' && !doc.customer && doc.customerBasis.labelIds.length)
    fields.push(['Label ids', doc.customerBasis.labelIds.join(', ')]);
  const width = Math.max(...fields.map(([k]) => k.length));
  const lines = [color.bold(`Organization ${doc.orgId}: ${doc.name}`), ''];
  for (const [k, v] of fields) lines.push(`${`${k}:`.padEnd(width + 2)}${v}`);
  lines.push('');
  if (doc.leftOff.length) {
    lines.push(color.yellow('Values left off:'));
    for (const v of doc.leftOff)
      lines.push(`  ${v.field}${v.value !== null ? ` ${JSON.stringify(v.value)}` : ''}: ${v.reason}`);
  } else lines.push('Values left off: none');
  lines.push(
    doc.lastError
      ? `${doc.lastError.current ? color.red('Last error') : 'Last error (since recovered)'}: ${doc.lastError.type ? `[${doc.lastError.type}] ` : ''}${doc.lastError.message} — ${when(doc.lastError.at)}`
      : 'Last error: none',
    '',
  );
  lines.push(
    doc.outcomes.length
      ? table(
          ['WHEN', 'RUN', 'TYPE', 'MODE', 'OUTCOME', 'MESSAGE'],
          doc.outcomes.map((o) => [
            `${o.at} (${ago(o.at)})`,
            o.runId,
            o.type ?? '-',
            o.mode ?? '-',
            outcomeOf(o.outcome),
            (o.message ?? '').slice(0, 120),
          ]),
        )
      : 'No recorded outcomes (kept for RETENTION_DAYS).',
  );
  return lines.join('\n');
}
