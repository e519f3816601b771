import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
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
  return spawnNode(app, [...scriptArgs(app), ...args], env);
}

/**
 * The worker as its own process with shorter timings (test/support/worker-entry.ts): what fault
 * tests SIGKILL when the production timings (30 s locks, 2-minute leases) would make them slow.
 */
export function spawnTestWorker(env: Record<string, string>, timing: Record<string, number>): AppProcess {
  const worker = scriptArgs('worker');
  const entry = join(REPO_ROOT, 'test/support/worker-entry.ts');
  return spawnNode('worker', [...worker.slice(0, -1), entry], { ...env, PCS_TEST_TIMING: JSON.stringify(timing) });
}

/** A node process with the given arguments (e.g. a compiled entry), read like spawnApp's. */
export function spawnNodeApp(app: string, argv: string[], env: Record<string, string>): AppProcess {
  return spawnNode(app, argv, env);
}

function spawnNode(app: string, argv: string[], env: Record<string, string>): AppProcess {
  const child = spawn(process.execPath, argv, {
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
