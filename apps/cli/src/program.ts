import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { REPO_ROOT } from '@pcs/config';
import { registerAlerts } from './commands/alerts.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerLogs } from './commands/logs.js';
import { registerMigrate } from './commands/migrate.js';
import { registerMonitor } from './commands/monitor.js';
import { registerOrg } from './commands/org.js';
import { registerRuns } from './commands/runs.js';
import { registerStatus } from './commands/status.js';
import { registerSync } from './commands/sync.js';
import { registerTestAlerts } from './commands/test-alerts.js';

/** The version of the tool: the root package.json's (docs/contract.md §2 `--version`). */
export function toolVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The operator CLI: `pnpm manage <cmd>` or `./scripts/manage.sh <cmd>`.
 * Exit codes: 0 success; 1 the job ran and failed / unhealthy; 2 bad usage or configuration;
 * 3 Redis or the database cannot be reached. With `json`, Commander's own output (help, version,
 * usage errors) goes to stderr, so that stdout carries only the one JSON document.
 */
export function buildProgram(opts: { json?: boolean; onOutput?: (text: string) => void } = {}): Command {
  const program = new Command('manage')
    .description('Operate the Pipedrive → Chatwoot sync: runs, health, alerts, logs, migrations')
    .version(toolVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    // An option after a subcommand belongs to it (`alerts silence x --json`), not to its parent.
    .enablePositionalOptions()
    .exitOverride();
  registerMigrate(program);
  registerStatus(program);
  registerSync(program);
  registerRuns(program);
  registerOrg(program);
  registerCleanup(program);
  registerTestAlerts(program);
  registerAlerts(program);
  registerMonitor(program);
  registerLogs(program);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const cmd of all(program)) {
    cmd.exitOverride();
    cmd.configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => {
        opts.onOutput?.(s);
        (opts.json ? process.stderr : process.stdout).write(s);
      },
    });
  }
  return program;
}
