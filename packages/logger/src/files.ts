import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Log file names (docs/contract.md §7): `<channel>.<process>.<n>.log` in `LOG_DIR/<channel>/`,
 * e.g. `sync/sync.worker-3f2a9c1b7d2e.4.log`: one numbered series per process, so processes that
 * share a LOG_DIR never roll or prune each other's files (pino-roll, rolling.ts, writes these
 * names: base `<channel>.<process>.log`; a series starts after the highest number in the folder).
 * `<channel>.<n>.log` (no process part) is the series every process shared before; it is still
 * read, and swept once it is old.
 */
export interface LogFile {
  /** Absolute path. */
  path: string;
  /** The file's name in its channel folder. */
  file: string;
  /** The process part of the name; '' for the shared series of earlier versions (`sync.1.log`). */
  process: string;
  number: number;
  size: number;
  mtimeMs: number;
}

/** A process name: lowercase letters, digits and '-', so it never contains the '.' that separates the parts. */
export const PROCESS_NAME = /^[a-z0-9][a-z0-9-]*$/;

export function logFileName(channel: string, process: string, n: number): string {
  return process ? `${channel}.${process}.${n}.log` : `${channel}.${n}.log`;
}

export function parseLogFileName(channel: string, file: string): { process: string; number: number } | undefined {
  if (!file.startsWith(`${channel}.`) || !file.endsWith('.log')) return undefined;
  const parts = file.slice(channel.length + 1, -'.log'.length).split('.');
  const last = parts.pop()!;
  if (!/^\d+$/.test(last) || parts.length > 1) return undefined;
  const process = parts[0] ?? '';
  if (process && !PROCESS_NAME.test(process)) return undefined;
  return { process, number: Number(last) };
}

/** Every log file of a channel folder (any process), unordered; files that vanish meanwhile are left out. */
export function listLogFiles(channelDir: string, channel: string): LogFile[] {
  let names: string[];
  try {
    names = readdirSync(channelDir);
  } catch {
    return [];
  }
  const out: LogFile[] = [];
  for (const file of names) {
    const parsed = parseLogFileName(channel, file);
    if (!parsed) continue;
    const path = join(channelDir, file);
    try {
      const st = statSync(path);
      if (st.isFile()) out.push({ path, file, ...parsed, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      /* removed between readdir and stat: its owner pruned it */
    }
  }
  return out;
}

/** Lowercase, '-' for anything else, no leading '-', at most `max` characters: a part of a process name. */
export function namePart(text: string, max = 40): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return cleaned || 'x';
}
