import { randomUUID } from 'node:crypto';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { basename, join } from 'node:path';
import { namePart } from './files.js';

/**
 * Which process writes which file series in a shared LOG_DIR (docs/contract.md §7).
 *
 * A process claims the name `<role>-<host>` (then `<role>-<host>-2`, `-3`, … while those are held)
 * by creating `LOG_DIR/.processes/<name>.json` exclusively, and touches that file every minute
 * while it runs. A name whose claim has not been touched for `staleAfterMs` belongs to no living
 * process: the next process of that role on that host takes it over and continues its series,
 * so restarts reuse names instead of leaving new series behind. A clean exit gives the name back
 * at once. Claims are judged by their age only, never by pid: containers have their own pid
 * numbers, and two of them may share a hostname.
 */
export interface ProcessIdentity {
  /** The claimed name; it changes only when the claim was lost (another process took it over). */
  readonly name: string;
  readonly role: string;
  /** Whether a living process holds `name` (its claim is fresh), this one included. */
  holds(name: string): boolean;
  /** Gives the name back; files keep their names. */
  release(): void;
}

export interface ClaimTiming {
  /** How often a living process touches its claim (default 60 s). */
  heartbeatMs?: number;
  /** A claim untouched this long belongs to no living process (default 10 min). */
  staleAfterMs?: number;
}

export const CLAIMS_DIR = '.processes';
const DEFAULT_HEARTBEAT_MS = 60_000;
const DEFAULT_STALE_AFTER_MS = 10 * 60_000;
const MAX_SLOTS = 1000;

/** The role of this process when the caller names none: `apps/<role>/…` of the main script, else its file name. */
export function defaultRole(script = process.argv[1] ?? ''): string {
  const app = /[\\/]apps[\\/]([^\\/]+)[\\/]/.exec(script);
  return namePart(app?.[1] ?? (basename(script).replace(/\.[^.]*$/, '') || 'node'), 20);
}

/** The host part: the first label of the hostname (a container's id in Docker). */
export function hostPart(host = osHostname()): string {
  return namePart(host.split('.')[0] ?? host, 32);
}

const live = new Set<ProcessIdentity>();
let exitHookInstalled = false;
function releaseAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits without closing its loggers still gives its names back.
  process.once('exit', () => {
    for (const id of [...live]) id.release();
  });
}

const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;

export function claimProcessName(logDir: string, role: string, timing: ClaimTiming = {}): ProcessIdentity {
  const heartbeatMs = timing.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const staleAfterMs = timing.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const dir = join(logDir, CLAIMS_DIR);
  mkdirSync(dir, { recursive: true });
  const base = `${namePart(role, 20)}-${hostPart()}`;
  const token = randomUUID();
  const claimPath = (name: string) => join(dir, `${name}.json`);
  const content = () =>
    JSON.stringify({ pid: process.pid, hostname: osHostname(), role, startedAt: new Date().toISOString(), token });
  const fresh = (mtimeMs: number) => Date.now() - mtimeMs < staleAfterMs;

  function tryClaim(name: string): boolean {
    const path = claimPath(name);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, content());
        } finally {
          closeSync(fd);
        }
        return true;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      let mtimeMs: number;
      try {
        mtimeMs = statSync(path).mtimeMs;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (fresh(mtimeMs)) return false;
      // Stale: move it aside first, so that of two processes taking it over only one removes it.
      const aside = `${path}.${token}.stale`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (fresh(statSync(aside).mtimeMs)) {
        // Another process claimed it between our look and the move: give it back untouched.
        try {
          linkSync(aside, path);
        } catch {
          /* someone else claimed it meanwhile; the mover's heartbeat notices and moves on */
        }
        unlinkSync(aside);
        return false;
      }
      unlinkSync(aside);
    }
    return false;
  }

  function claimFirstFree(): string {
    for (let slot = 1; slot <= MAX_SLOTS; slot++) {
      const name = slot === 1 ? base : `${base}-${slot}`;
      if (tryClaim(name)) return name;
    }
    throw new Error(`no free process name ${base}-N under ${dir} (${MAX_SLOTS} held)`);
  }

  let name = claimFirstFree();
  let released = false;

  const heartbeat = setInterval(() => {
    try {
      const held = (JSON.parse(readFileSync(claimPath(name), 'utf8')) as { token?: string }).token === token;
      if (held) {
        const now = new Date();
        utimesSync(claimPath(name), now, now);
        return;
      }
    } catch {
      /* gone or unreadable: lost */
    }
    // This process was taken for dead (it stood still longer than staleAfterMs): take a free name
    // so that two processes never write one series.
    try {
      const lost = name;
      name = claimFirstFree();
      process.stderr.write(`log: the process name ${lost} was taken over; writing as ${name} from now on\n`);
    } catch {
      /* keep the old name and try again at the next beat */
    }
  }, heartbeatMs);
  heartbeat.unref();

  const identity: ProcessIdentity = {
    get name() {
      return name;
    },
    role,
    holds(other) {
      if (other === name && !released) return true;
      if (!other) return false;
      try {
        return fresh(statSync(claimPath(other)).mtimeMs);
      } catch {
        return false;
      }
    },
    release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      live.delete(identity);
      try {
        const path = claimPath(name);
        if ((JSON.parse(readFileSync(path, 'utf8')) as { token?: string }).token === token) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
  live.add(identity);
  releaseAllOnExit();
  return identity;
}

/** Removes claims nobody has touched for `olderThanMs` (their processes are long gone). */
export function sweepClaims(logDir: string, olderThanMs: number): void {
  const dir = join(logDir, CLAIMS_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) {
    const path = join(dir, f);
    try {
      if (Date.now() - statSync(path).mtimeMs > olderThanMs) unlinkSync(path);
    } catch {
      /* raced with its owner or another sweeper */
    }
  }
}
