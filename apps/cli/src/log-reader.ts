import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { listLogFiles, type LogFile } from '@pcs/logger';

/**
 * Reading a channel folder that several processes write (docs/contract.md §7): each process has a
 * numbered series of its own (`sync.worker-3f2a.4.log`; `sync.4.log` from earlier versions), so
 * the channel's lines are the series' lines merged by their `time`.
 */

interface Stamped {
  line: string;
  time: number;
  /** Ties keep the order of the files and lines they came from. */
  order: number;
}

/** A line's `time` in ms; lines without one take the time of the line before them. */
function stamp(lines: string[], order: number, previous = -Infinity): Stamped[] {
  let last = previous;
  return lines.map((line, i) => {
    let time = NaN;
    try {
      const t = (JSON.parse(line) as { time?: unknown }).time;
      time = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
    } catch {
      /* not JSON: keeps its neighbour's time */
    }
    if (Number.isNaN(time)) time = last;
    last = time;
    return { line, time, order: order + i };
  });
}

function mergeByTime(entries: Stamped[]): string[] {
  return entries.sort((a, b) => a.time - b.time || a.order - b.order).map((e) => e.line);
}

/** The last `n` complete lines of a file, reading backwards from its end in chunks. */
export function tailLines(path: string, n: number): string[] {
  if (n <= 0) return [];
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return []; // pruned by its writer meanwhile
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    while (pos > 0 && newlines <= n) {
      const len = Math.min(64 * 1024, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      chunks.unshift(buf);
      for (const byte of buf) if (byte === 0x0a) newlines++;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    if (pos > 0) lines.shift(); // began mid-line
    return lines.filter(Boolean).slice(-n);
  } finally {
    closeSync(fd);
  }
}

/** The channel's last `n` lines across every process's files, in time order. */
export function lastLines(channelDir: string, channel: string, n: number): { lines: string[]; files: number } {
  const files = listLogFiles(channelDir, channel);
  if (n <= 0) return { lines: [], files: files.length };
  const bySeries = new Map<string, LogFile[]>();
  for (const f of files) bySeries.set(f.process, [...(bySeries.get(f.process) ?? []), f]);
  const entries: Stamped[] = [];
  let order = 0;
  for (const series of bySeries.values()) {
    // One process writes its series in order: its last n lines are in its newest files.
    const newestFirst = series.sort((a, b) => b.number - a.number);
    const collected: string[][] = [];
    let count = 0;
    for (const f of newestFirst) {
      const lines = tailLines(f.path, n - count);
      collected.unshift(lines);
      count += lines.length;
      if (count >= n) break;
    }
    const lines = collected.flat();
    entries.push(...stamp(lines, order));
    order += lines.length;
  }
  return { lines: mergeByTime(entries).slice(-n), files: files.length };
}

/**
 * Follows every file of a channel: what each process appends, files that appear later (a roll,
 * a process that starts), printed in time order each round. Starts at the current ends.
 */
export class ChannelFollower {
  private readonly offsets = new Map<string, number>();
  private order = 0;

  constructor(
    private readonly channelDir: string,
    private readonly channel: string,
  ) {
    for (const f of listLogFiles(channelDir, channel)) this.offsets.set(f.path, f.size);
  }

  /** The complete lines written since the last call, merged by time. */
  poll(): string[] {
    const entries: Stamped[] = [];
    const seen = new Set<string>();
    for (const f of listLogFiles(this.channelDir, this.channel)) {
      seen.add(f.path);
      let offset = this.offsets.get(f.path) ?? 0; // a new file is read from its start
      if (f.size < offset) offset = 0; // truncated
      const { lines, consumed } = readComplete(f.path, offset);
      this.offsets.set(f.path, offset + consumed);
      entries.push(...stamp(lines, this.order));
      this.order += lines.length;
    }
    for (const path of this.offsets.keys()) if (!seen.has(path)) this.offsets.delete(path);
    return mergeByTime(entries);
  }
}

/** The complete lines after `offset`, and how many bytes they took (a line still being written waits). */
function readComplete(path: string, offset: number): { lines: string[]; consumed: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { lines: [], consumed: 0 };
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return { lines: [], consumed: 0 };
    const buf = Buffer.alloc(size - offset);
    const read = readSync(fd, buf, 0, buf.length, offset);
    const end = buf.subarray(0, read).lastIndexOf(0x0a);
    if (end < 0) return { lines: [], consumed: 0 };
    const lines = buf.subarray(0, end).toString('utf8').split('\n').filter(Boolean);
    return { lines, consumed: end + 1 };
  } finally {
    closeSync(fd);
  }
}
