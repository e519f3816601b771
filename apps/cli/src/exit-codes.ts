/** Exit codes of docs/contract.md §2. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** An error that ends a command with its own exit code. Kept apart from runtime.ts so that main.ts loads no database or Redis code for it. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
