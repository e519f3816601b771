import { closeSync, fstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { listLogFiles, logFileName } from './files.js';
import type { ProcessIdentity } from './claim.js';

export interface RollingOptions {
  /** LOG_DIR/<channel> */
  dir: string;
  channel: string;
  identity: ProcessIdentity;
  /** Bytes at which the file rolls (LOG_MAX_SIZE). */
  maxSize: number;
  /** Rolled files of this process kept besides the current one (LOG_MAX_FILES). */
  maxFiles: number;
  /** An earlier process's newest file is continued only when written this recently. */
  reopenWithinMs: number;
  /** Called after each roll (the dead-process sweep hangs here). */
  onRoll?: () => void;
}

/**
 * One process's numbered file series of one channel (docs/contract.md §7): appends each line with
 * one synchronous write (a line is on disk when the log call returns, so a crash loses none),
 * rolls at maxSize to the next number, and prunes only this series to maxFiles rolled files. The
 * pruned files are this process's own, closed ones, so no process ever writes to a deleted file.
 */
export class RollingFile {
  private fd: number | undefined;
  private number = 1;
  private size = 0;
  private series: string;
  private complaints = 0;
  destroyed = false;

  /** The file is opened at the first line: a channel a process never writes gets no file. */
  constructor(private readonly opts: RollingOptions) {
    this.series = opts.identity.name;
  }

  /** The file being written. */
  get path(): string {
    return join(this.opts.dir, logFileName(this.opts.channel, this.series, this.number));
  }

  write(chunk: string): boolean {
    if (this.destroyed) return false;
    try {
      if (this.fd === undefined || this.series !== this.opts.identity.name) this.open();
      // Roll before the line that does not fit, so that no empty file is left waiting.
      if (this.size >= this.opts.maxSize) this.roll();
      const buf = Buffer.from(chunk);
      let done = 0;
      while (done < buf.length) done += writeSync(this.fd!, buf, done, buf.length - done);
      this.size += buf.length;
    } catch (err) {
      // The disk is full or the folder went away: say so on stderr (a few times), never throw
      // into the code that logged.
      if (this.complaints++ < 3) process.stderr.write(`log: cannot write ${this.path}: ${(err as Error).message}\n`);
    }
    return true;
  }

  flushSync(): void {
    /* every write is synchronous */
  }

  end(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * Opens this process's series: the newest file an earlier process of the same name left, when
   * it has room and was written recently (so that short-lived processes such as the CLI do not
   * leave a file each), else a new file numbered after it. An old file is never reopened, so the
   * file written can never be one the sweep of dead processes' old files is about to remove.
   */
  private open(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.series = this.opts.identity.name;
    const newest = this.ownFiles().at(-1);
    const reuse = newest && newest.size < this.opts.maxSize && Date.now() - newest.mtimeMs < this.opts.reopenWithinMs;
    this.number = newest ? newest.number + (reuse ? 0 : 1) : 1;
    this.openCurrent();
    this.prune();
  }

  private openCurrent(): void {
    this.fd = openSync(this.path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  private roll(): void {
    closeSync(this.fd!);
    this.fd = undefined;
    this.number++;
    this.openCurrent();
    this.prune();
    this.opts.onRoll?.();
  }

  private ownFiles() {
    return listLogFiles(this.opts.dir, this.opts.channel)
      .filter((f) => f.process === this.series)
      .sort((a, b) => a.number - b.number);
  }

  /** Keeps this series' newest maxFiles rolled files besides the current one. */
  private prune(): void {
    const rolled = this.ownFiles().filter((f) => f.number < this.number);
    for (const f of rolled.slice(0, Math.max(0, rolled.length - this.opts.maxFiles))) {
      try {
        unlinkSync(f.path);
      } catch {
        /* already gone */
      }
    }
  }
}
