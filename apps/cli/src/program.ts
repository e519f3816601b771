import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every command, by the names it registers, and how to load it. A command's module (and with it
 * typeorm, bullmq, ioredis…) loads only when that command runs: `--version` loads none, and
 * `status` loads only status.ts. The top-level help, or a name that is none of these, loads all.
 */
const COMMANDS: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['migrate'], load: async () => (await import('./commands/migrate.js')).registerMigrate },
  { names: ['status'], load: async () => (await import('./commands/status.js')).registerStatus },
  { names: ['sync'], load: async () => (await import('./commands/sync.js')).registerSync },
  { names: ['runs'], load: async () => (await import('./commands/runs.js')).registerRuns },
  { names: ['org'], load: async () => (await import('./commands/org.js')).registerOrg },
  { names: ['cleanup'], load: async () => (await import('./commands/cleanup.js')).registerCleanup },
  { names: ['test-alerts'], load: async () => (await import('./commands/test-alerts.js')).registerTestAlerts },
  { names: ['alerts'], load: async () => (await import('./commands/alerts.js')).registerAlerts },
  { names: ['monitor'], load: async () => (await import('./commands/monitor.js')).registerMonitor },
  { names: ['logs', 'monitor-logs'], load: async () => (await import('./commands/logs.js')).registerLogs },
];

/**
 * The repository root, found upward from this module (apps/cli/src, or apps/cli/dist when compiled)
 * without loading @pcs/config, which `--version` does not otherwise need.
 */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The version of the tool: the root package.json's (docs/contract.md §2 `--version`). */
export function toolVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The commands argv needs: none for a bare `--version`, the named one, or (help, unknown names) all. */
function commandsFor(argv: string[] | undefined): Promise<Register>[] {
  if (!argv) return COMMANDS.map((c) => c.load());
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const name = (end < 0 ? args : args.slice(0, end)).find((a) => !a.startsWith('-'));
  if (name === undefined && args.some((a) => a === '-V' || a === '--version')) return [];
  const one = COMMANDS.find((c) => c.names.includes(name ?? ''));
  return one ? [one.load()] : COMMANDS.map((c) => c.load());
}

/**
 * The operator CLI: `pnpm manage <cmd>` or `./scripts/manage.sh <cmd>`.
 * Exit codes: 0 success; 1 the job ran and failed / unhealthy; 2 bad usage or configuration;
 * 3 Redis or the database cannot be reached. With `json`, Commander's own output (help, version,
 * usage errors) goes to stderr, so that stdout carries only the one JSON document.
 */
export async function buildProgram(
  opts: { json?: boolean; onOutput?: (text: string) => void; argv?: string[] } = {},
): Promise<Command> {
  const program = new Command('manage')
    .description('Operate the Pipedrive → Chatwoot sync: runs, health, alerts, logs, migrations')
    .version(toolVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    // An option after a subcommand belongs to it (`alerts silence x --json`), not to its parent.
    .enablePositionalOptions()
    .exitOverride();
  for (const register of await Promise.all(commandsFor(opts.argv))) register(program);
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
