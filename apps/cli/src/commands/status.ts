import type { Command } from 'commander';
import { buildStatus, type StatusDocument } from '@pcs/ops';
import { EXIT, openRuntime } from '../runtime.js';
import { ago, color, createOutput, table } from '../output.js';
import { runsTable } from '../runs-view.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('queues, schedulers and their next run, workers online, last runs, firing alerts')
    .option('--json', 'print one JSON document (the same as GET /api/status)')
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const rt = await openRuntime({ redis: true, database: false });
      try {
        // The database is optional here: when it is down, the queue side is still worth seeing.
        const { openDatabase } = await import('@pcs/db');
        let dbError: string | undefined;
        const { host, port, database } = rt.config.database;
        const ds = await openDatabase(rt.config.database, { migrate: false, poolSize: 1, connectTimeoutMs: 3_000 })
          .then((r) => r.ds)
          .catch((err: Error) => {
            dbError = `cannot reach the database ${database} at ${host}:${port}: ${err.message}`;
            return undefined;
          });
        const doc = await buildStatus({ config: rt.config, queues: rt.queues!, ds, redis: rt.redis });
        await ds?.destroy();
        if (dbError) doc.database = { ok: false, error: dbError };
        if (out.json) out.document(doc);
        else out.say(renderStatus(doc));
        // After the report (the queue side is still worth seeing): 3 when the database cannot be
        // reached, 1 when it answers but cannot say (not migrated, a failing query).
        if (dbError) process.exitCode = EXIT.unreachable;
        else if (!doc.database.ok) process.exitCode = EXIT.failed;
      } finally {
        await rt.close();
      }
    });
}

export function renderStatus(doc: StatusDocument): string {
  const lines: string[] = [];
  lines.push(color.bold(`Pipedrive-Chatwoot Sync — status at ${doc.generatedAt} (prefix ${doc.prefix})`), '');
  lines.push(
    table(
      ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'WORKERS'],
      Object.entries(doc.queues).map(([name, c]) => [
        name + (c.paused ? ' (paused)' : ''),
        c.waiting,
        c.active,
        c.delayed,
        c.failed ? color.red(String(c.failed)) : 0,
        doc.workers.byQueue[name as keyof typeof doc.workers.byQueue]
          ? String(doc.workers.byQueue[name as keyof typeof doc.workers.byQueue])
          : color.red('none'),
      ]),
    ),
  );
  lines.push('', `Workers online: ${doc.workers.total ? color.green(String(doc.workers.total)) : color.red('none')}`);
  lines.push(
    '',
    doc.schedulers.length
      ? table(
          ['SCHEDULE', 'QUEUE', 'EVERY / CRON', 'NEXT RUN'],
          doc.schedulers.map((s) => [
            s.job,
            s.queue,
            s.pattern ? `${s.pattern} ${s.tz ?? ''}`.trim() : `${Math.round((s.every ?? 0) / 60_000)} min`,
            s.next ? `${s.next} (${ago(s.next)})` : '-',
          ]),
        )
      : color.yellow('No job schedulers: is a worker running?'),
  );
  lines.push('');
  if (!doc.database.ok) lines.push(color.red(`Database unreachable: ${doc.database.error}`));
  else {
    const run = (label: string, r: StatusDocument['lastRuns']['sync']) =>
      r
        ? `${label}: ${r.status === 'succeeded' ? color.green(r.status) : r.status === 'running' ? r.status : color.red(r.status)} ${r.mode}, started ${ago(r.startedAt)}, ${r.processed} processed${r.errorMessage ? ` — ${r.errorMessage}` : ''}`
        : `${label}: never`;
    if (doc.running.length) lines.push(color.bold('Running:'), runsTable(doc.running), '');
    lines.push(
      run('Last sync', doc.lastRuns.sync),
      run('Last successful sync', doc.lastRuns.lastSuccessfulSync),
      run('Last cleanup', doc.lastRuns.cleanup),
    );
    if (doc.checks.length) {
      lines.push(
        '',
        table(
          ['CHECK', 'STATUS', 'WHEN', 'MESSAGE'],
          doc.checks.map((c) => [
            c.check,
            c.status === 'ok'
              ? color.green('ok')
              : c.status === 'warning'
                ? color.yellow(c.status)
                : color.red(c.status),
            ago(c.checkedAt),
            c.message.slice(0, 100),
          ]),
        ),
      );
    }
    lines.push(
      '',
      doc.alerts.firing.length
        ? table(
            ['FIRING ALERT', 'LEVEL', 'SINCE', 'MESSAGE'],
            doc.alerts.firing.map((a) => [a.fingerprint, a.level, ago(a.since), a.message.slice(0, 100)]),
          )
        : color.green('No firing alerts.'),
    );
    if (doc.alerts.silenced.length)
      lines.push(`Silenced: ${doc.alerts.silenced.map((a) => `${a.fingerprint} until ${a.silencedUntil}`).join(', ')}`);
  }
  return lines.join('\n');
}
