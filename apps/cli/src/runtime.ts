import { ConfigError, loadConfig, type Config, type Requirement } from '@pcs/config';
import { databaseFailure, openDatabase, type DataSource, type MigrationReport } from '@pcs/db';
import { describeError } from '@pcs/errors';
import { createLoggers, type Loggers } from '@pcs/logger';
import {
  closeQueues,
  createQueues,
  createRedis,
  describeRedis,
  pingRedis,
  type Queues,
  type RedisClient,
} from '@pcs/queues';

import { CliError, EXIT } from './exit-codes.js';

export { CliError, EXIT };

export interface Runtime {
  config: Config;
  loggers: Loggers;
  redis?: RedisClient;
  queues?: Queues;
  ds?: DataSource;
  migrations?: MigrationReport;
}

export interface RuntimeNeeds {
  redis?: boolean;
  database?: boolean;
  /** Apply pending migrations when opening the database (default false: the CLI reads). */
  migrate?: boolean;
  requirements?: Requirement[];
}

/**
 * Config (exit 2 on a bad value), log channels (files only: the CLI's own output is its
 * stdout), and the connections a command needs (exit 3 when Redis or the database is away).
 */
export async function openRuntime(needs: RuntimeNeeds): Promise<Runtime & { close(): Promise<void> }> {
  let config: Config;
  try {
    config = loadConfig(needs.requirements ?? []);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  // Files of its own (`<channel>.cli-<host>.<n>.log`) next to the worker's (docs/contract.md §7).
  const loggers = await createLoggers(config, { console: false, role: 'cli' });
  const rt: Runtime = { config, loggers };
  const close = async () => {
    if (rt.queues) await closeQueues(rt.queues);
    rt.redis?.disconnect();
    await rt.ds?.destroy().catch(() => undefined);
    await loggers.close();
  };
  try {
    if (needs.redis) {
      const redis = createRedis(config.redis, 'producer', {
        lazyConnect: true,
        retryStrategy: () => null,
        sentinelRetryStrategy: () => null,
      });
      let lastError: Error | undefined;
      redis.on('error', (err: Error) => (lastError = err));
      rt.redis = redis;
      try {
        await redis.connect();
        await pingRedis(redis);
      } catch (err) {
        throw new CliError(
          `cannot reach ${describeRedis(config.redis)}: ${(lastError ?? (err as Error)).message}`,
          EXIT.unreachable,
        );
      }
      rt.queues = createQueues(redis, config.redis.prefix);
    }
    if (needs.database) {
      try {
        const opened = await openDatabase(config.database, {
          migrate: needs.migrate ?? false,
          poolSize: 2,
          connectTimeoutMs: 5_000,
        });
        rt.ds = opened.ds;
        rt.migrations = opened.migrations;
      } catch (err) {
        // Unreachable or refused credentials: exit 3. The server answered but the database is
        // not there (never set up): 1, with what to do. Anything else: 1.
        const failure = databaseFailure(err);
        const where = `the database ${config.database.database} at ${config.database.host}:${config.database.port}`;
        if (failure === 'missing')
          throw new CliError(
            `${where} does not exist yet (${describeError(err).message}): run \`pnpm manage migrate\` to create it`,
            EXIT.failed,
          );
        const unreachable = failure === 'unreachable' || failure === 'denied';
        throw new CliError(
          `cannot use ${where}: ${describeError(err).message}`,
          unreachable ? EXIT.unreachable : EXIT.failed,
        );
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ...rt, close };
}
