import type { Command } from 'commander';
import { parseDuration } from '@pcs/monitor';
import { readAlerts, summarizeAlert } from '@pcs/ops';
import { openRuntime, CliError, EXIT } from '../runtime.js';
import { ago, color, createOutput, table } from '../output.js';

export function registerAlerts(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('list firing and silenced alerts; silence or unsilence one (like Alertmanager)')
    .option('--json', 'print one JSON document')
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const rt = await openRuntime({ database: true });
      try {
        const now = new Date();
        const rows = await readAlerts(rt.config, rt.ds!).list();
        const firing = rows.filter((a) => a.state === 'firing').map((a) => summarizeAlert(a, now));
        const silenced = rows
          .filter((a) => a.silencedUntil && a.silencedUntil > now)
          .map((a) => summarizeAlert(a, now));
        out.document({ firing, silenced });
        if (!out.json) {
          out.say(
            firing.length
              ? table(
                  ['FINGERPRINT', 'LEVEL', 'SINCE', 'SILENCED UNTIL', 'MESSAGE'],
                  firing.map((a) => [
                    a.fingerprint,
                    a.level,
                    ago(a.since),
                    a.silencedUntil ?? '-',
                    a.message.slice(0, 80),
                  ]),
                )
              : color.green('No firing alerts.'),
          );
          const quiet = silenced.filter((s) => s.state !== 'firing');
          if (quiet.length)
            out.say(
              `\nSilenced (not firing): ${quiet.map((s) => `${s.fingerprint} until ${s.silencedUntil}`).join(', ')}`,
            );
        }
      } finally {
        await rt.close();
      }
    });

  alerts
    .command('silence <fingerprint>')
    .description('notify nothing for this fingerprint for a while (e.g. --for 2h)')
    .requiredOption('--for <duration>', 'how long: 30m, 2h, 1d, 1w')
    .option('--reason <text>', 'why (kept with the silence)', 'silenced from the CLI')
    .option('--json', 'print one JSON document')
    .action(async (fingerprint: string, opts: { for: string; reason: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const ms = parseDuration(opts.for);
      if (!ms) throw new CliError(`--for: "${opts.for}" is not a duration (expected e.g. 30m, 2h, 1d)`, EXIT.usage);
      const rt = await openRuntime({ database: true });
      try {
        const until = new Date(Date.now() + ms);
        await readAlerts(rt.config, rt.ds!).silence(fingerprint, until, opts.reason);
        rt.loggers
          .get('alerts')
          .info({ fingerprint, until: until.toISOString(), reason: opts.reason }, 'alert silenced from the CLI');
        out.say(`silenced ${fingerprint} until ${until.toISOString()}`);
        out.document({ fingerprint, silencedUntil: until.toISOString() });
      } finally {
        await rt.close();
      }
    });

  alerts
    .command('unsilence <fingerprint>')
    .description('end a silence now')
    .option('--json', 'print one JSON document')
    .action(async (fingerprint: string, opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const rt = await openRuntime({ database: true });
      try {
        const found = await readAlerts(rt.config, rt.ds!).unsilence(fingerprint);
        if (!found) throw new CliError(`no alert with fingerprint ${fingerprint}`, EXIT.failed);
        rt.loggers.get('alerts').info({ fingerprint }, 'alert unsilenced from the CLI');
        out.say(`unsilenced ${fingerprint}`);
        out.document({ fingerprint, silencedUntil: null });
      } finally {
        await rt.close();
      }
    });
}
