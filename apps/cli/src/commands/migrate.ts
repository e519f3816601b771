import type { Command } from 'commander';
import { openRuntime } from '../runtime.js';
import { createOutput } from '../output.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (safe while workers start: they share a lock)')
    .option('--json', 'print one JSON document')
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      const rt = await openRuntime({ database: true, migrate: true, requirements: ['database'] });
      try {
        const applied = rt.migrations?.applied ?? [];
        rt.loggers.get('worker').info({ applied }, 'migrations applied from the CLI');
        out.say(
          applied.length
            ? `applied ${applied.length} migration(s): ${applied.join(', ')}`
            : `database ${rt.config.database.database} is up to date`,
        );
        out.document({ database: rt.config.database.database, applied });
      } finally {
        await rt.close();
      }
    });
}
