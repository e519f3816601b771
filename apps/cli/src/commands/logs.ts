import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@pcs/config';
import { CHANNELS, type Channel } from '@pcs/logger';
import { CliError, EXIT } from '../runtime.js';
import { color, createOutput } from '../output.js';

const LEVEL_COLOR: Record<string, (s: string) => string> = {
  fatal: color.red,
  error: color.red,
  warn: color.yellow,
  info: color.green,
  debug: color.dim,
  trace: color.dim,
};
const SKIP = new Set(['time', 'level', 'msg', 'name', 'pid', 'hostname']);

/** The channel's files, oldest first (pino-roll numbers them: sync.1.log, sync.2.log, …). */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.\d+\.log$/.test(f))
    .sort((a, b) => Number(/\.(\d+)\.log$/.exec(a)![1]) - Number(/\.(\d+)\.log$/.exec(b)![1]))
    .map((f) => join(dir, f));
}

export function formatLine(line: string): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = String(e.level ?? 'info');
  const time = typeof e.time === 'string' ? e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : String(e.time ?? '');
  const extra = Object.entries(e)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${color.dim(time)} ${(LEVEL_COLOR[level] ?? ((s: string) => s))(level.toUpperCase().padEnd(5))} ${color.bold(`[${String(e.name ?? '')}]`)} ${String(e.msg ?? '')}${extra ? color.dim(`  ${extra.slice(0, 400)}`) : ''}`;
}

async function show(
  channelArg: string | undefined,
  opts: { follow?: boolean; lines: string; json?: boolean },
): Promise<void> {
  const channel = (channelArg ?? 'worker') as Channel;
  if (!(CHANNELS as readonly string[]).includes(channel))
    throw new CliError(`unknown log channel "${channel}" (expected one of ${CHANNELS.join(', ')})`, EXIT.usage);
  const n = Number(opts.lines);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`-n: "${opts.lines}" is not a number of lines`, EXIT.usage);
  if (opts.json && opts.follow)
    throw new CliError('--json prints one document: it cannot be combined with -f', EXIT.usage);
  const out = createOutput(Boolean(opts.json));
  const dir = join(loadConfig().log.dir, channel);
  const all = files(dir);
  if (!all.length) out.say(color.yellow(`no log files in ${dir} yet (LOG_DIR=${loadConfig().log.dir})`));
  const lines: string[] = [];
  for (const f of [...all].reverse()) {
    const content = readFileSync(f, 'utf8').split('\n').filter(Boolean);
    lines.unshift(...content);
    if (lines.length >= n) break;
  }
  const tail = n === 0 ? [] : lines.slice(-n);
  if (opts.json) {
    out.document(
      tail.map((l) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          return { raw: l };
        }
      }),
    );
    return;
  }
  for (const l of tail) process.stdout.write(`${formatLine(l)}\n`);
  if (!opts.follow) return;
  // Follow: read what is appended to the newest file, and move on when the series rolls.
  let current = all.at(-1);
  let offset = current ? statSync(current).size : 0;
  // Ctrl-C is how a follow ends: that is success, not an interruption.
  process.once('SIGINT', () => process.exit(0));
  process.stderr.write(color.dim(`following ${dir} (Ctrl-C to stop)\n`));
  const drain = () => {
    if (!current || !existsSync(current)) return;
    const size = statSync(current).size;
    if (size < offset) offset = 0;
    if (size > offset) {
      const chunk = readFileSync(current).subarray(offset, size).toString('utf8');
      offset = size;
      for (const l of chunk.split('\n').filter(Boolean)) process.stdout.write(`${formatLine(l)}\n`);
    }
  };
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const newest = files(dir).at(-1);
    if (newest && newest !== current) {
      drain(); // the end of the file that just rolled
      current = newest;
      offset = 0;
    }
    drain();
  }
}

export function registerLogs(program: Command): void {
  program
    .command('logs [channel]')
    .description(`show the JSON logs of a channel human-readably (${CHANNELS.join(', ')}; default worker)`)
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'how many of the last lines', '50')
    .option('--json', 'print the lines as one JSON array')
    .action((channel: string | undefined, opts: { follow?: boolean; lines: string; json?: boolean }) =>
      show(channel, opts),
    );
  program
    .command('monitor-logs')
    .description('the monitor channel: `logs monitor`')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'how many of the last lines', '50')
    .option('--json', 'print the lines as one JSON array')
    .action((opts: { follow?: boolean; lines: string; json?: boolean }) => show('monitor', opts));
}
