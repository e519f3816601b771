import { Command } from 'commander';
import { registerAlerts } from './commands/alerts.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerLogs } from './commands/logs.js';
import { registerMigrate } from './commands/migrate.js';
import { registerMonitor } from './commands/monitor.js';
import { registerRuns } from './commands/runs.js';
import { registerStatus } from './commands/status.js';
import { registerSync } from './commands/sync.js';
import { registerTestAlerts } from './commands/test-alerts.js';

/**
 * The operator CLI: `pnpm manage <cmd>` or `./scripts/manage.sh <cmd>`.
 * Exit codes: 0 success; 1 the job ran and failed / unhealthy; 2 bad usage or configuration;
 * 3 Redis or the database cannot be reached.
 */
export function buildProgram(): Command {
  const program = new Command('manage')
    .description('Operate the Pipedrive → Chatwoot sync: runs, health, alerts, logs, migrations')
    .showHelpAfterError('(run with --help for usage)')
    // An option after a subcommand belongs to it (`alerts silence x --json`), not to its parent.
    .enablePositionalOptions()
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerMigrate(program);
  registerStatus(program);
  registerSync(program);
  registerRuns(program);
  registerCleanup(program);
  registerTestAlerts(program);
  registerAlerts(program);
  registerMonitor(program);
  registerLogs(program);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const cmd of all(program)) cmd.exitOverride();
  return program;
}
