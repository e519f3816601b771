import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../packages/config/src/index.js';
import { waitFor } from './index.js';

/** Real processes of the apps, as an operator starts them (node --import tsx, like `pnpm run …`). */
export interface AppProcess {
  child: ChildProcess;
  output(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (or another signal) and the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The node arguments of `pnpm run <app>` (root package.json), so tests run what users run. */
function scriptArgs(app: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [cmd, ...args] = (scripts[app] ?? `node --import tsx apps/${app}/src/main.ts`).split(/\s+/);
  if (cmd !== 'node') throw new Error(`the ${app} script does not start with node: ${scripts[app]}`);
  return args.map((a) => (a.startsWith('apps/') ? join(REPO_ROOT, a) : a));
}

export function spawnApp(app: 'worker' | 'dashboard' | 'simulator', env: Record<string, string>, args: string[] = []): AppProcess {
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
      waitFor(() => (typeof text === 'string' ? out.includes(text) : text.test(out)) || undefined, { timeoutMs, what: `${app} output ${String(text)} (got: ${out.slice(-600)})` }).then(() => undefined),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs the CLI to its end. Asynchronous on purpose: the simulator often lives in the test's own
 * process and must keep answering while the CLI waits.
 */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
