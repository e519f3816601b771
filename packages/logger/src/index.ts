import { accessSync, constants, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import {
  claimProcessName,
  CLAIMS_DIR,
  defaultRole,
  sweepClaims,
  type ClaimTiming,
  type ProcessIdentity,
} from './claim.js';
import { createRedactor } from './redact.js';
import { RollingFile } from './rolling.js';
import { serializeError } from './serializers.js';
import { DEAD_PROCESS_RETENTION_MS, sweepDeadProcessFiles } from './sweep.js';

export { createRedactor, REDACTED } from './redact.js';
export { serializeError } from './serializers.js';
export type { Logger } from 'pino';
export { listLogFiles, logFileName, parseLogFileName, type LogFile } from './files.js';
export { DEAD_PROCESS_RETENTION_MS } from './sweep.js';

/** The log channels of docs/contract.md §7: one directory (and file series) each under LOG_DIR. */
export const CHANNELS = ['sync', 'cleanup', 'monitor', 'alerts', 'worker'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface LoggerSettings {
  log: { dir: string; level: string; maxSize: string; maxFiles: number };
  secrets: readonly string[];
}

export interface LoggerOptions {
  /** Where the copy of each line goes besides the file: stdout (default, for `docker logs`), stderr, or nowhere. */
  console?: 'stdout' | 'stderr' | false;
  /** Channels to open (default: all); get() of another one throws. */
  channels?: readonly Channel[];
  /** What this process is (`worker`, `dashboard`, `cli`); the default comes from the main script's path (`apps/<role>/…`). */
  role?: string;
  /** Files of processes that are gone are removed once unwritten this long (default 7 days). */
  deadProcessRetentionMs?: number;
  /** How a process keeps its name (tests shorten these). */
  claim?: ClaimTiming;
}

export interface Loggers {
  /** The process part of this process's file names (`worker-3f2a9c1b7d2e`). */
  readonly processName: string;
  get(channel: Channel): Logger;
  /** Flushes and closes every file; call before exiting. */
  close(): Promise<void>;
}

/**
 * Opens one pino logger per channel (docs/contract.md §7): JSON lines carrying `hostname` and
 * `pid` to LOG_DIR/<channel>/<channel>.<process>.<n>.log, a series of this process's own (see
 * claim.ts for how the process name is chosen) written by pino-roll (rolling.ts), rolled at
 * LOG_MAX_SIZE, keeping LOG_MAX_FILES rolled files besides the current one, like the seed's
 * backupCount; a copy on stdout; every secret redacted from the serialized line. Files of
 * processes that are gone are removed once nobody has written them for a week
 * (DEAD_PROCESS_RETENTION_MS).
 */
export async function createLoggers(settings: LoggerSettings, options: LoggerOptions = {}): Promise<Loggers> {
  const redact = createRedactor(settings.secrets);
  const consoleTarget = options.console === undefined ? 'stdout' : options.console;
  const retentionMs = options.deadProcessRetentionMs ?? DEAD_PROCESS_RETENTION_MS;
  const maxSize = parseSize(settings.log.maxSize);
  const opened = new Map<Channel, { logger: Logger; file: RollingFile; dir: string }>();
  const host = hostname();

  const cannotWrite = (what: string, dir: string, err: unknown) => {
    // The seed guide's "missing log files" case: say which folder, why, and what to do.
    const e = err as NodeJS.ErrnoException;
    return new Error(
      `cannot write the ${what} in ${dir} (LOG_DIR=${settings.log.dir}): ${e.code ?? e.message}; create the folder and let this user write to it (mkdir -p ${settings.log.dir}, chown it to this user, chmod 755), or set LOG_DIR`,
      { cause: err },
    );
  };

  let identity: ProcessIdentity;
  try {
    identity = claimProcessName(settings.log.dir, options.role ?? defaultRole(), options.claim);
  } catch (err) {
    throw cannotWrite('logs', join(settings.log.dir, CLAIMS_DIR), err);
  }

  const lastSweep = new Map<Channel, number>();
  const sweep = (channel: Channel, force = false) => {
    const entry = opened.get(channel);
    if (!entry || (!force && Date.now() - (lastSweep.get(channel) ?? 0) < 60_000)) return;
    lastSweep.set(channel, Date.now());
    try {
      sweepDeadProcessFiles(entry.dir, channel, identity, retentionMs);
    } catch {
      /* a sweep that fails is tried again at the next roll */
    }
  };

  async function open(channel: Channel): Promise<void> {
    const dir = join(settings.log.dir, channel);
    let file: RollingFile;
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      file = await RollingFile.open({
        dir,
        channel,
        identity,
        maxSize,
        maxFiles: settings.log.maxFiles,
        onRoll: () => sweep(channel),
      });
    } catch (err) {
      throw cannotWrite(`${channel} log`, dir, err);
    }
    const streams: pino.StreamEntry[] = [{ stream: file, level: 'trace' }];
    if (consoleTarget)
      streams.push({ stream: consoleTarget === 'stdout' ? process.stdout : process.stderr, level: 'trace' });
    const logger = pino(
      {
        name: channel,
        level: settings.log.level,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          // `name` is the channel (docs/contract.md §7): a logged object's own `name` (an
          // organization's, say) must not replace it, so it is kept as `objectName`.
          log: (obj) => {
            if (!('name' in obj)) return obj;
            const { name, ...rest } = obj;
            return { ...rest, objectName: name };
          },
        },
        serializers: { err: serializeError, error: serializeError },
        // Every line says which process wrote it (docs/contract.md §7), so scaled workers can be told apart.
        base: { pid: process.pid, hostname: host },
        hooks: { streamWrite: redact },
      },
      pino.multistream(streams),
    );
    opened.set(channel, { logger, file, dir });
  }

  const results = await Promise.allSettled((options.channels ?? CHANNELS).map((c) => open(c)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all([...opened.values()].map(({ file }) => file.end()));
    identity.release();
    throw failed.reason;
  }
  for (const channel of opened.keys()) sweep(channel, true);
  sweepClaims(settings.log.dir, retentionMs);
  // A process whose channels never roll still sweeps now and then.
  const sweeper = setInterval(() => {
    for (const channel of opened.keys()) sweep(channel, true);
    sweepClaims(settings.log.dir, retentionMs);
  }, 3_600_000);
  sweeper.unref();

  return {
    get processName() {
      return identity.name;
    },
    get(channel) {
      const entry = opened.get(channel);
      if (entry) return entry.logger;
      throw new Error(`log channel ${channel} was not opened`);
    },
    async close() {
      clearInterval(sweeper);
      await Promise.all([...opened.values()].map(({ file }) => file.end()));
      opened.clear();
      identity.release();
    },
  };
}

/** LOG_MAX_SIZE in bytes: "500k", "10m", "1g" (or "10mb"); "500b" is bytes; a bare number is MB. */
export function parseSize(size: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(b?)$/i.exec(size.trim());
  if (!m) throw new Error(`${size} is not a size (expected e.g. 500k, 10m, 1g)`);
  const unit = m[2]!.toLowerCase();
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : m[3] ? 1 : 1024 ** 2;
  return Math.max(1, Math.round(Number(m[1]) * factor));
}
