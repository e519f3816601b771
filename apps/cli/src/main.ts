import { CommanderError } from 'commander';
import { describeError, isKind } from '@pcs/errors';
import { buildProgram } from './program.js';
import { documentPrinted, printDocument } from './output.js';
import { CliError, EXIT } from './exit-codes.js';

/** @pcs/db (and typeorm with it) loads when an error needs it, not for every command. */
const db = () => import('@pcs/db');

/** The exit code of an error that ended a command (docs/contract.md §2), from its kind. */
async function exitCodeOf(err: unknown): Promise<number> {
  if (err instanceof CliError) return err.exitCode;
  if (isKind(err, 'config')) return EXIT.usage;
  const { databaseFailure, isServiceUnreachable } = await db();
  // The server answered, but the schema is not there (never migrated): not "unreachable".
  if (databaseFailure(err) === 'missing') return EXIT.failed;
  if (isServiceUnreachable(err)) return EXIT.unreachable;
  return EXIT.failed;
}

/** `--json` anywhere before a `--` asks for one JSON document on stdout, whatever happens. */
function wantsJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** The single document of docs/contract.md §2 for a command that ended in error (when none was printed yet). */
function errorDocument(json: boolean, code: number, message: string): void {
  if (json && !documentPrinted()) printDocument({ error: { code, message } });
}

async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  let shown = '';
  let program: Awaited<ReturnType<typeof buildProgram>> | undefined;
  try {
    program = await buildProgram({ json, onOutput: (text) => (shown += text), argv });
    await program.parseAsync(argv);
    // A command that ran and found a failure sets process.exitCode itself (1).
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; any other usage problem is 2. Commander
      // has already written its message (or the help) to stderr.
      if (err.exitCode === 0) {
        if (json && !documentPrinted())
          printDocument(err.code === 'commander.version' ? { version: program?.version() } : { help: shown });
        return EXIT.ok;
      }
      const message =
        err.code === 'commander.help' ? 'a command is needed (see --help)' : err.message.replace(/^error: /, '');
      errorDocument(json, EXIT.usage, message);
      return EXIT.usage;
    }
    const code = await exitCodeOf(err);
    const { message: said } = describeError(err);
    const message =
      (await db()).databaseFailure(err) === 'missing'
        ? `${said}: the database answers but its tables are missing; run \`pnpm manage migrate\``
        : said;
    process.stderr.write(`error: ${message}\n`);
    errorDocument(json, code, message);
    return code;
  }
}

/**
 * A script that stops the CLI (Ctrl-C, `timeout 60 pnpm manage sync --wait --json`) or an error
 * escaping the command still gets its one JSON document; a queued job goes on either way.
 */
function lastWords(json: boolean): void {
  if (!json) return;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(signal, () => {
      // A command that stops on this signal by itself (`logs -f`) ends its own way.
      if (process.listenerCount(signal) > 0) return;
      errorDocument(json, code, `interrupted by ${signal}; a job already queued goes on`);
      process.exit(code);
    });
  process.once('uncaughtException', (err) => {
    const { message } = describeError(err);
    process.stderr.write(`error: ${message}\n`);
    void exitCodeOf(err).then(
      (code) => {
        errorDocument(json, code, message);
        process.exit(code);
      },
      () => {
        errorDocument(json, EXIT.failed, message);
        process.exit(EXIT.failed);
      },
    );
  });
}

lastWords(wantsJson(process.argv));
process.exitCode = await main(process.argv);
