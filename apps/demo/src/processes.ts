import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRedis, type RedisTarget } from '@pcs/queues';
import { REPO_ROOT } from '@pcs/config';

const STOP_GRACE_MS = 35_000;

/** The node arguments of `pnpm run <script>` in the root package.json, so the demo runs what users run. */
export function scriptArgs(script: string): string[] {
  const scripts = (
    JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const line = scripts[script];
  if (!line) throw new Error(`no "${script}" script in package.json`);
  const [cmd, ...args] = line.split(/\s+/);
  if (cmd !== 'node') throw new Error(`the ${script} script does not start with node: ${line}`);
  return args.map((a) => (a.startsWith('apps/') || a.startsWith('scripts/') ? join(REPO_ROOT, a) : a));
}

/** A clean environment plus the given settings: the operator's own variables must not leak into the demo. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TERM', 'NO_COLOR', 'FORCE_COLOR'];
  return {
    ...Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
    ...env,
  };
}

export interface App {
  name: 'worker' | 'dashboard';
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after the grace period; resolves when it has exited. */
  stop(): Promise<void>;
}

/** Starts `pnpm run <app>`'s command; JSON logs go to the log files, stderr lines are shown prefixed. */
export function startApp(
  app: 'worker' | 'dashboard',
  env: Record<string, string>,
  onUnexpectedExit: (code: number | null) => void,
): App {
  // The IPC channel is only a lifeline: the child stops when it closes (the demo died).
  const child = spawn(process.execPath, scriptArgs(app), {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stopping = false;
  child.stderr!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) process.stderr.write(`[${app}] ${line}\n`);
  });
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      if (!stopping) onUnexpectedExit(code);
      resolve();
    }),
  );
  return {
    name: app,
    child,
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs the operator CLI (`pnpm manage …`) to its end. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...scriptArgs('manage'), ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
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

/** PING through the one Redis factory (one server, Sentinels, Cluster, TLS: README "Scaling out"). */
export async function checkRedis(target: RedisTarget): Promise<void> {
  const redis = createRedis(target, 'producer', {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}

export async function waitUntil(what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}
