import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { REPO_ROOT } from '../../packages/config/src/index.js';
import { resetDemoState } from '../../apps/demo/src/reset.js';
import { MYSQL, waitFor } from './index.js';

/** The addresses a ready demo prints. */
export interface DemoUrls {
  board: string;
  contacts: string;
  chat: string;
}

/**
 * `pnpm run demo` started straight with node, in its own process group (as a shell job is), on
 * free ports, with its own database, queue prefix and settings file.
 */
export function startDemo(opts: { database: string; prefix: string; envOut: string }) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'apps/demo/src/main.ts'),
      '--port',
      '0',
      '--simulator-port',
      '0',
      '--database',
      opts.database,
      '--prefix',
      opts.prefix,
      '--env-out',
      opts.envOut,
      '--no-activity',
    ],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH!,
        HOME: process.env.HOME ?? '/tmp',
        MYSQL_HOST: MYSQL.host,
        MYSQL_PORT: String(MYSQL.port),
        MYSQL_USER: MYSQL.user,
        MYSQL_PASSWORD: MYSQL.password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = (label: string) => {
    const found = new RegExp(`${label}\\s+(http://\\S+)`).exec(out)?.[1];
    if (!found) throw new Error(`the demo printed no ${label} address; output: ${out}`);
    return found;
  };
  return {
    child,
    exited,
    output: () => out,
    /** Waits for "Ctrl-C stops everything" and answers the Bull Board address. */
    async ready(): Promise<string> {
      await waitFor(() => out.includes('Ctrl-C stops everything') || undefined, {
        timeoutMs: 120_000,
        intervalMs: 200,
        what: `the demo to be ready; output: ${out}`,
      });
      return url('Bull Board \\(queues and jobs\\)');
    },
    urls: (): DemoUrls => ({
      board: url('Bull Board \\(queues and jobs\\)'),
      contacts: url('Chatwoot contacts \\(simulated\\)'),
      chat: url('Google Chat space \\(simulated\\)'),
    }),
    /** SIGTERM and the exit. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    /** What `pnpm run demo -- --clean` removes: the database and the Redis keys. */
    async cleanup() {
      const s = parseDotenv(readFileSync(opts.envOut));
      await resetDemoState({ ...s, REDIS_URL: s.REDIS_URL!, QUEUE_PREFIX: opts.prefix }).catch(() => undefined);
    },
  };
}
