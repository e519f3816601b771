import type { Command } from 'commander';
import type { Job } from 'bullmq';
import { checkJobs, MONITOR_CHECKS } from '@pcs/jobs';
import { enqueue, onlineWorkers } from '@pcs/queues';
import { parseDuration } from '@pcs/monitor';
import { CliError, EXIT, openRuntime } from '../runtime.js';
import { color, createOutput } from '../output.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ICON = { ok: '✅', warning: '⚠️', critical: '🚨' } as const;
const TITLE: Record<string, string> = {
  'pipedrive-api': 'Pipedrive API',
  'chatwoot-api': 'Chatwoot API',
  'sync-status': 'Database sync status',
  consistency: 'Data consistency',
  freshness: 'Sync freshness',
  queues: 'Queues and workers',
};

interface CheckView {
  check: string;
  status: 'ok' | 'warning' | 'critical';
  message: string;
  details?: Record<string, unknown>;
}

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description(
      'run every health check now (on the workers), print the report, send alerts as a scheduled run would; exit 0 healthy, 1 unhealthy',
    )
    .option('--json', 'print one JSON document')
    .option('--timeout <duration>', 'how long to wait for the checks (90s, 2m; a bare number is seconds)', '120')
    .action(async (opts: { json?: boolean; timeout: string }) => {
      const out = createOutput(Boolean(opts.json));
      // The same durations as every --timeout (docs/contract.md §2); a bare number stays seconds, as before.
      const timeoutMs = /^\d+$/.test(opts.timeout.trim()) ? Number(opts.timeout) * 1000 : parseDuration(opts.timeout);
      if (!timeoutMs)
        throw new CliError(`--timeout: "${opts.timeout}" is not a duration (expected e.g. 90s, 2m)`, EXIT.usage);
      const rt = await openRuntime({ redis: true });
      const log = rt.loggers.get('monitor');
      try {
        const queue = rt.queues!.monitor;
        if ((await onlineWorkers(queue)).length === 0)
          out.say(
            color.yellow('no worker serves the monitor queue: start one with `pnpm run worker` (waiting anyway)'),
          );
        const jobs: [string, Job][] = [];
        for (const name of MONITOR_CHECKS)
          jobs.push([name, await enqueue(rt.queues!, checkJobs[name], { trigger: 'cli' })]);
        log.info({ checks: MONITOR_CHECKS }, 'health checks started from the CLI');
        const deadline = Date.now() + timeoutMs;
        const results: CheckView[] = [];
        for (const [name, job] of jobs) {
          for (;;) {
            const state = await job.getState();
            if (state === 'completed') {
              const rv = (await queue.getJob(job.id!))!.returnvalue as CheckView;
              results.push({ check: name, status: rv.status, message: rv.message, details: rv.details });
              break;
            }
            if (state === 'failed' || Date.now() > deadline) {
              const reason =
                state === 'failed' ? ((await queue.getJob(job.id!))?.failedReason ?? 'failed') : 'no result in time';
              results.push({ check: name, status: 'critical', message: `the check could not run: ${reason}` });
              break;
            }
            await sleep(200);
          }
        }
        const healthy = results.every((r) => r.status === 'ok');
        log[healthy ? 'info' : 'warn'](
          { healthy, results: results.map((r) => ({ check: r.check, status: r.status })) },
          `health check report: ${healthy ? 'healthy' : 'unhealthy'}`,
        );
        out.document({ healthy, timestamp: new Date().toISOString(), checks: results });
        if (!out.json) {
          out.say(color.bold('Pipedrive-Chatwoot Sync health check'));
          for (const r of results) out.say(`${ICON[r.status]} ${TITLE[r.check] ?? r.check}: ${r.message}`);
          out.say(
            healthy
              ? color.green('\nOverall: healthy')
              : color.red('\nOverall: unhealthy (alerts go to Google Chat through the notification queue)'),
          );
        }
        if (!healthy) process.exitCode = 1;
      } finally {
        await rt.close();
      }
    });
}
