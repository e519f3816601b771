import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import { createRedactor } from './redact.js';
import { serializeError } from './serializers.js';

export { createRedactor, REDACTED } from './redact.js';
export { serializeError } from './serializers.js';
export type { Logger } from 'pino';

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
  /** Channels to open; others are opened on first use. */
  channels?: readonly Channel[];
}

export interface Loggers {
  get(channel: Channel): Logger;
  /** Flushes and closes every file; call before exiting. */
  close(): Promise<void>;
}

type RollStream = DestinationStream & {
  flushSync?: () => void;
  end(): void;
  once(ev: string, cb: () => void): void;
  destroyed?: boolean;
};
type RollFactory = (opts: Record<string, unknown>) => Promise<RollStream>;
const require = createRequire(import.meta.url);
const roll = require('pino-roll') as RollFactory;

function sizeForRoll(size: string): string {
  // pino-roll understands k/m/g (and a bare number as MB); accept a trailing "b" too.
  return size.toLowerCase().replace(/b$/, '');
}

/**
 * Opens one pino logger per channel: JSON lines to LOG_DIR/<channel>/<channel>.N.log, rolled at
 * LOG_MAX_SIZE, keeping LOG_MAX_FILES rolled files besides the current one, like the seed's
 * backupCount (older files from earlier processes count too), a
 * copy on stdout, and every secret redacted from the serialized line.
 */
export async function createLoggers(settings: LoggerSettings, options: LoggerOptions = {}): Promise<Loggers> {
  const redact = createRedactor(settings.secrets);
  const consoleTarget = options.console === undefined ? 'stdout' : options.console;
  const opened = new Map<Channel, { logger: Logger; file: RollStream }>();

  async function open(channel: Channel): Promise<void> {
    const dir = join(settings.log.dir, channel);
    let file: RollStream;
    try {
      mkdirSync(dir, { recursive: true });
      file = await roll({
        file: join(dir, `${channel}.log`),
        size: sizeForRoll(settings.log.maxSize),
        limit: { count: settings.log.maxFiles, removeOtherLogFiles: true },
        mkdir: true,
      });
    } catch (err) {
      // The seed guide's "missing log files" case: say which folder, why, and what to do.
      const e = err as NodeJS.ErrnoException;
      throw new Error(
        `cannot write the ${channel} log in ${dir} (LOG_DIR=${settings.log.dir}): ${e.code ?? e.message}; create the folder and let this user write to it (mkdir -p ${settings.log.dir}, chown it to this user, chmod 755), or set LOG_DIR`,
        { cause: err },
      );
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
        base: { pid: process.pid },
        hooks: { streamWrite: redact },
      },
      pino.multistream(streams),
    );
    opened.set(channel, { logger, file });
  }

  await Promise.all((options.channels ?? CHANNELS).map((c) => open(c)));

  return {
    get(channel) {
      const entry = opened.get(channel);
      if (entry) return entry.logger;
      throw new Error(`log channel ${channel} was not opened`);
    },
    async close() {
      await Promise.all(
        [...opened.values()].map(
          ({ file }) =>
            new Promise<void>((resolve) => {
              if (file.destroyed) return resolve();
              file.once('close', () => resolve());
              try {
                file.flushSync?.();
              } catch {
                /* nothing buffered or already closing */
              }
              file.end();
              setTimeout(resolve, 2_000).unref();
            }),
        ),
      );
      opened.clear();
    },
  };
}
