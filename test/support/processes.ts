import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../../packages/config/src/index.js';
import { waitFor } from './index.js';
import { scriptArgs } from '../../apps/demo/src/processes.js';

/** Real processes of the apps, as an operator starts them (node --import tsx, like `pnpm run …`). */
export interface AppProcess {
  child: ChildProcess;
  output(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (or another signal) and the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnApp(
  app: 'worker' | 'dashboard' | 'simulator',
  env: Record<string, string>,
  args: string[] = [],
): AppProcess {
  const child = spawn(process.execPath, [...scriptArgs(app), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
  return {
    child,
    output: () => out,
    waitFor: (text, timeoutMs = 20_000) =>
      waitFor(() => (typeof text === 'string' ? out.includes(text) : text.test(out)) || undefined, {
        timeoutMs,
        what: `${app} output ${String(text)} (got: ${out.slice(-600)})`,
      }).then(() => undefined),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs the CLI to its end (`pnpm manage …`, as the demo runs it). Asynchronous on purpose: the
 * simulator often lives in the test's own process and must keep answering while the CLI waits.
 */
export { runCli } from '../../apps/demo/src/processes.js';
