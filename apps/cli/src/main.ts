import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { CliError, EXIT } from './runtime.js';

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
    const e = err as Error & { exitCode?: number };
    process.stderr.write(`error: ${e.message}\n`);
    return err instanceof CliError ? err.exitCode : (e.exitCode ?? EXIT.failed);
  }
}

process.exitCode = await main(process.argv);
