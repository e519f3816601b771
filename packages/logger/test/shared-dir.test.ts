import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listLogFiles } from '../src/index.js';

/**
 * docs/contract.md §7: processes sharing one LOG_DIR lose no line and delete no file another is
 * writing. Three real processes write numbered lines into one LOG_DIR through many rolls.
 */
const WRITER = join(__dirname, 'fixtures/writer.ts');
const LINES = 2500;

interface Run {
  dir: string;
  /** Log files some process still had open after they were deleted, seen while they ran. */
  deletedOpen: string[];
  names: string[];
}

async function runWriters(maxSize: string, maxFiles: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-shared-log-'));
  const children: ChildProcess[] = [];
  const outputs: string[] = [];
  for (const id of ['a', 'b', 'c']) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', WRITER, dir, maxSize, String(maxFiles), String(LINES), id],
      { cwd: join(__dirname, '../../..'), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const i = outputs.push('') - 1;
    child.stdout!.on('data', (d: Buffer) => (outputs[i] += d.toString()));
    children.push(child);
  }
  const exited = children.map((c) => new Promise<number | null>((r) => c.on('exit', (code) => r(code))));
  const deadline = Date.now() + 20_000;
  while (!outputs.every((o) => o.includes('ready')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  expect(
    outputs.every((o) => o.includes('ready')),
    'the three writers started',
  ).toBe(true);

  // While they write: does any of them hold a log file that is gone (a "(deleted)" fd)?
  const deletedOpen = new Set<string>();
  let running = true;
  const watch = (async () => {
    while (running) {
      for (const c of children) {
        const fdDir = `/proc/${c.pid}/fd`;
        let fds: string[];
        try {
          fds = readdirSync(fdDir);
        } catch {
          continue; // exited
        }
        for (const fd of fds) {
          try {
            const target = readlinkSync(join(fdDir, fd));
            if (target.startsWith(dir) && target.endsWith('(deleted)')) deletedOpen.add(target);
          } catch {
            /* closed meanwhile */
          }
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  for (const c of children) c.stdin!.write('go\n');
  const codes = await Promise.all(exited);
  running = false;
  await watch;
  expect(codes).toEqual([0, 0, 0]);
  const names = outputs.map((o) => /done (\S+)/.exec(o)?.[1] ?? '');
  return { dir, deletedOpen: [...deletedOpen], names };
}

/** Every line in the sync folder, by writer: its sequence numbers in file order. */
function linesByWriter(dir: string): Map<string, { seqs: number[]; pids: Set<number>; files: Set<string> }> {
  const by = new Map<string, { seqs: number[]; pids: Set<number>; files: Set<string> }>();
  const files = listLogFiles(join(dir, 'sync'), 'sync').sort((a, b) =>
    a.process === b.process ? a.number - b.number : a.process.localeCompare(b.process),
  );
  for (const f of files) {
    for (const line of readFileSync(f.path, 'utf8').split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { writer: string; seq: number; pid: number };
      const w = by.get(e.writer) ?? { seqs: [], pids: new Set(), files: new Set() };
      w.seqs.push(e.seq);
      w.pids.add(e.pid);
      w.files.add(f.file);
      by.set(e.writer, w);
    }
  }
  return by;
}

const hasProc = existsSync('/proc/self/fd');

describe('one LOG_DIR shared by several processes', () => {
  it('keeps every line of three processes rolling side by side, each in files of its own', async () => {
    const run = await runWriters('8k', 1000);
    expect(run.deletedOpen).toEqual([]);
    // Three names, one per process, on the same host: writer-<host>, writer-<host>-2, writer-<host>-3.
    expect(new Set(run.names).size).toBe(3);
    const by = linesByWriter(run.dir);
    for (const id of ['a', 'b', 'c']) {
      const w = by.get(id)!;
      expect(w.seqs.length, `writer ${id}: every line, once`).toBe(LINES);
      expect([...w.seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: LINES }, (_, i) => i + 1));
      expect(w.pids.size).toBe(1);
      expect(w.files.size, `writer ${id} rolled several times`).toBeGreaterThan(10);
      // No file holds lines of two processes.
      for (const other of ['a', 'b', 'c'].filter((o) => o !== id))
        for (const f of w.files) expect(by.get(other)!.files.has(f)).toBe(false);
    }
  }, 60_000);

  it.skipIf(!hasProc)(
    'prunes each process to LOG_MAX_FILES of its own, and no process writes to a file another deleted',
    async () => {
      const run = await runWriters('4k', 2);
      // Checked all along: no writer ever held a deleted log file open.
      expect(run.deletedOpen).toEqual([]);
      const by = linesByWriter(run.dir);
      const series = new Map<string, number>();
      for (const f of listLogFiles(join(run.dir, 'sync'), 'sync'))
        series.set(f.process, (series.get(f.process) ?? 0) + 1);
      expect([...series.keys()].sort()).toEqual([...run.names].sort());
      // LOG_MAX_FILES (2) rolled files besides the current one, per process.
      for (const count of series.values()) expect(count).toBeLessThanOrEqual(3);
      for (const id of ['a', 'b', 'c']) {
        const seqs = by.get(id)!.seqs;
        // What is kept is the newest lines without a gap: nothing went into a file someone else deleted.
        const first = seqs[0]!;
        expect(seqs).toEqual(Array.from({ length: LINES - first + 1 }, (_, i) => first + i));
        // ... and at least two full files of them.
        const lineBytes = readFileSync(listLogFiles(join(run.dir, 'sync'), 'sync')[0]!.path, 'utf8').indexOf('\n') + 1;
        expect(seqs.length).toBeGreaterThanOrEqual(Math.floor((2 * 4096) / lineBytes));
      }
    },
    60_000,
  );
});
