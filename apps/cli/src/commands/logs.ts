import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@pcs/config';
import { CHANNELS, type Channel } from '@pcs/logger';
import { CliError, EXIT } from '../exit-codes.js';
import { color, createOutput } from '../output.js';
import { ChannelFollower, lastLines } from '../log-reader.js';

const LEVEL_COLOR: Record<string, (s: string) => string> = {
  fatal: color.red,
  error: color.red,
  warn: color.yellow,
  info: color.green,
  debug: color.dim,
  trace: color.dim,
};
const SKIP = new Set(['time', 'level', 'msg', 'name', 'pid', 'hostname']);

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
  // Which process wrote it: the channel's lines come from every process sharing LOG_DIR.
  const from =
    e.hostname !== undefined || e.pid !== undefined ? `  @${String(e.hostname ?? '?')}:${String(e.pid ?? '?')}` : '';
  return `${color.dim(time)} ${(LEVEL_COLOR[level] ?? ((s: string) => s))(level.toUpperCase().padEnd(5))} ${color.bold(`[${String(e.name ?? '')}]`)} ${String(e.msg ?? '')}${extra ? color.dim(`  ${extra.slice(0, 400)}`) : ''}${from ? color.dim(from) : ''}`;
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
  const logDir = loadConfig().log.dir;
  const dir = join(logDir, channel);
  // Every process's files of the channel, merged by time (docs/contract.md §7).
  const { lines: tail, files } = lastLines(dir, channel, n);
  if (!files) out.say(color.yellow(`no log files in ${dir} yet (LOG_DIR=${logDir})`));
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
  // Follow every process's files, including those that appear later (a roll, a process starting).
  const follower = new ChannelFollower(dir, channel);
  // Ctrl-C is how a follow ends: that is success, not an interruption.
  process.once('SIGINT', () => process.exit(0));
  process.stderr.write(color.dim(`following ${dir} (Ctrl-C to stop)\n`));
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    for (const l of follower.poll()) process.stdout.write(`${formatLine(l)}\n`);
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
