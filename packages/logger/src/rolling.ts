import { appendFileSync, statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ProcessIdentity } from './claim.js';
import { listLogFiles, logFileName } from './files.js';

export interface RollingOptions {
  /** LOG_DIR/<channel> */
  dir: string;
  channel: string;
  identity: ProcessIdentity;
  /** Bytes at which the file rolls (LOG_MAX_SIZE). */
  maxSize: number;
  /** Rolled files of this process kept besides the current one (LOG_MAX_FILES). */
  maxFiles: number;
  /** Called after each roll (the dead-process sweep hangs here). */
  onRoll?: () => void;
}

/** The SonicBoom stream pino-roll hands back (pino-roll ships no types). */
interface RollStream {
  write(chunk: string): boolean;
  end(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'cleanup-complete', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
  /** The file being written. */
  readonly file: string;
}
type RollFactory = (options: {
  file: string;
  size: string;
  limit: { count: number; removeOtherLogFiles: boolean };
  sync: boolean;
  mkdir: boolean;
}) => Promise<RollStream>;
const require = createRequire(import.meta.url);
const roll = require('pino-roll') as RollFactory;

const live = new Set<RollingFile>();
let exitHookInstalled = false;

/**
 * One process's numbered file series of one channel (docs/contract.md §7), written by pino-roll:
 * base `<channel>.<process>` gives `<channel>.<process>.<n>.log`; `sync: true` makes every line
 * one synchronous write (on disk when the log call returns, so a crash loses none); it rolls once
 * a write takes the file to LOG_MAX_SIZE (at the end of that event-loop turn, so a burst of lines
 * logged in one synchronous loop may take a file past it); `limit.removeOtherLogFiles` prunes only
 * the files named after its own base (pino-roll's identifyLogFile), i.e. this process's series,
 * earlier runs under the same name included, so no process deletes a file another is writing.
 *
 * Around pino-roll: the series is opened when the loggers are created (pino-roll opens its file
 * asynchronously, so opening it at the first line would hold that line in memory instead of
 * writing it at once) and its file removed at close if it is empty (a channel the process never
 * wrote, or nothing after the last roll), so that never-written channels leave no file; a process
 * whose name was taken over (claim.ts) closes its stream and opens one under its new name; and
 * the series is pruned when opened too, since pino-roll prunes only at a roll and numbers after
 * the highest number of any process in the folder, so a short-lived process (the CLI) that never
 * rolls would otherwise leave a file per run.
 *
 * Known pino-roll quirk: it retries a failed unlink (ENOENT included) 50 times 100 ms apart, so
 * when two of its prunes overlap (rolls milliseconds apart, i.e. a tiny LOG_MAX_SIZE) a process
 * that ends on its own (no process.exit) can exit up to 5 s late. No line is lost by it.
 */
export class RollingFile {
  private stream: RollStream | undefined;
  /** The process name `stream` writes under. */
  private series = '';
  private reopening: Promise<void> | undefined;
  /** Lines logged while the stream is being reopened under a new name, written to it in order once it is. */
  private pending: string[] = [];
  private complaints = 0;
  private ended = false;

  private constructor(private readonly opts: RollingOptions) {}

  /** Opens the series of the process's current name; throws when the file cannot be opened. */
  static async open(opts: RollingOptions): Promise<RollingFile> {
    const file = new RollingFile(opts);
    const name = opts.identity.name;
    file.stream = await file.openSeries(name);
    file.series = name;
    live.add(file);
    installExitHook();
    return file;
  }

  write(chunk: string): boolean {
    if (this.ended) return false;
    if (this.reopening || this.series !== this.opts.identity.name) {
      this.pending.push(chunk);
      this.reopening ??= this.reopen();
      return true;
    }
    this.put(chunk);
    return true;
  }

  flushSync(): void {
    /* every write is synchronous */
  }

  /** Writes what is waiting, closes the file, and removes it if it is empty (and still this process's). */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.reopening;
    live.delete(this);
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return;
    await closeStream(stream);
    if (this.series === this.opts.identity.name) removeIfEmpty(stream.file);
  }

  private put(chunk: string): void {
    try {
      this.stream!.write(chunk);
    } catch (err) {
      this.complain(err);
    }
  }

  private async openSeries(name: string): Promise<RollStream> {
    const stream = await roll({
      file: join(this.opts.dir, `${this.opts.channel}.${name}.log`),
      size: `${this.opts.maxSize}b`,
      // With removeOtherLogFiles, pino-roll's count includes the file being written.
      limit: { count: this.opts.maxFiles + 1, removeOtherLogFiles: true },
      sync: true,
      mkdir: true,
    });
    // A write or prune that fails is said on stderr; without a listener it would throw into the caller.
    stream.on('error', (err) => this.complain(err));
    if (this.opts.onRoll) stream.on('cleanup-complete', this.opts.onRoll);
    this.prune(name);
    return stream;
  }

  /** This process's name was taken over (claim.ts): the old series is the other process's now. */
  private async reopen(): Promise<void> {
    for (;;) {
      const name = this.opts.identity.name;
      const old = this.stream;
      this.stream = undefined;
      this.series = '';
      // Left in place even if empty: the process that took the name over may be writing it.
      if (old) void closeStream(old);
      try {
        this.stream = await this.openSeries(name);
        this.series = name;
      } catch (err) {
        this.complain(err);
        this.pending = []; // the next line tries again
        break;
      }
      if (name === this.opts.identity.name) break;
    }
    const waiting = this.pending;
    this.pending = [];
    this.reopening = undefined;
    if (this.stream) for (const chunk of waiting) this.put(chunk);
  }

  /** Keeps this series' newest maxFiles rolled files besides the current one (the newest number). */
  private prune(name: string): void {
    const own = listLogFiles(this.opts.dir, this.opts.channel)
      .filter((f) => f.process === name)
      .sort((a, b) => a.number - b.number);
    for (const f of own.slice(0, Math.max(0, own.length - this.opts.maxFiles - 1))) {
      try {
        unlinkSync(f.path);
      } catch {
        /* already gone */
      }
    }
  }

  /**
   * At exit during a reopen: the waiting lines go synchronously to the file pino-roll was opening
   * (it numbers after the highest number in the folder).
   */
  writePendingSync(): void {
    if (!this.pending.length) return;
    const newest = Math.max(1, ...listLogFiles(this.opts.dir, this.opts.channel).map((f) => f.number));
    const path = join(this.opts.dir, logFileName(this.opts.channel, this.opts.identity.name, newest));
    try {
      appendFileSync(path, this.pending.join(''));
    } catch (err) {
      this.complain(err);
    }
    this.pending = [];
  }

  private complain(err: unknown): void {
    // The disk is full or the folder went away: say so on stderr (a few times), never throw into
    // the code that logged.
    if (this.complaints++ < 3)
      process.stderr.write(
        `log: cannot write the ${this.opts.channel} log in ${this.opts.dir}: ${(err as Error).message}\n`,
      );
  }
}

function closeStream(stream: RollStream): Promise<void> {
  return new Promise<void>((resolve) => {
    if (stream.destroyed) return resolve();
    stream.once('close', resolve);
    setTimeout(resolve, 2_000).unref();
    try {
      stream.end();
    } catch {
      resolve();
    }
  });
}

function removeIfEmpty(path: string): void {
  try {
    if (statSync(path).size === 0) unlinkSync(path);
  } catch {
    /* gone already */
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const file of live) file.writePendingSync();
  });
}
