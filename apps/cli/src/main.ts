import { CommanderError } from 'commander';
import { isServiceUnreachable } from '@pcs/db';
import { describeError, isKind } from '@pcs/errors';
import { buildProgram } from './program.js';
import { CliError, EXIT } from './runtime.js';

/** The exit code of an error that ended a command (docs/contract.md §2), from its kind. */
function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (isKind(err, 'config')) return EXIT.usage;
  if (isServiceUnreachable(err)) return EXIT.unreachable;
  return EXIT.failed;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command that ran and found a failure sets process.exitCode itself (1).
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; any other usage problem is 2.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    process.stderr.write(`error: ${describeError(err).message}\n`);
    return exitCodeOf(err);
  }
}

process.exitCode = await main(process.argv);
