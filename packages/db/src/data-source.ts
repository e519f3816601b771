import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { createConnection } from 'mysql2/promise';
import type { DatabaseConfig } from '@pcs/config';
import { tagError } from '@pcs/errors';
import { databaseTimeout } from './errors.js';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

export interface DataSourceOptions {
  /** Pool size per process. */
  poolSize?: number;
  /** Fail fast when the server does not answer (ms). */
  connectTimeoutMs?: number;
}

export function createDataSource(db: DatabaseConfig, opts: DataSourceOptions = {}): DataSource {
  return typeDatabaseErrors(
    new DataSource({
      type: 'mysql',
      host: db.host,
      port: db.port,
      username: db.user,
      password: db.password,
      database: db.database,
      charset: 'utf8mb4_unicode_ci',
      timezone: 'Z',
      entities: ENTITIES,
      migrations: MIGRATIONS,
      migrationsTableName: 'schema_migrations',
      synchronize: false,
      logging: false,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      poolSize: opts.poolSize ?? 10,
      extra: { enableKeepAlive: true },
    }),
  );
}

const database = (err: unknown) => tagError(err, 'database', 'database');

/** Connections whose session clock is UTC already (pooled connections are reused). */
const utcSessions = new WeakSet<object>();

/**
 * Every session runs in UTC, whatever the server's own time zone: NOW(), CURRENT_TIMESTAMP
 * defaults and the Dates TypeORM reads and writes (timezone 'Z') then agree, and UTC_TIMESTAMP is
 * the one clock runs and checks are stamped with.
 */
async function inUtc<C>(conn: C): Promise<C> {
  const c = conn as unknown as { query(sql: string, cb: (err: unknown) => void): void };
  if (conn && !utcSessions.has(conn as object)) {
    await new Promise<void>((resolve, reject) =>
      c.query("SET time_zone = '+00:00'", (err) => (err ? reject(err) : resolve())),
    );
    utcSessions.add(conn as object);
  }
  return conn;
}

/**
 * Every error of this data source carries the kind `database` (see @pcs/errors): connecting,
 * queries, transactions, whatever repository or query builder issued them. TypeORM runs all of
 * them through a query runner, so the runner's methods are where the kind is attached; the
 * driver's own error (class, code, message) is left as it is.
 */
function typeDatabaseErrors(ds: DataSource): DataSource {
  const initialize = ds.initialize.bind(ds);
  ds.initialize = () => initialize().catch((err: unknown) => Promise.reject(database(err)));
  const driver = ds.driver;
  const create = driver.createQueryRunner.bind(driver);
  driver.createQueryRunner = (mode) => {
    const runner = create(mode);
    const connect = runner.connect.bind(runner);
    runner.connect = async () => inUtc(await connect());
    for (const method of [
      'connect',
      'query',
      'startTransaction',
      'commitTransaction',
      'rollbackTransaction',
    ] as const) {
      const original = (runner[method] as (...args: unknown[]) => Promise<unknown>).bind(runner);
      (runner as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        original(...args).catch((err: unknown) => Promise.reject(database(err)));
    }
    return runner;
  };
  return ds;
}

/** Creates the database itself when it is missing (first start on a fresh server). */
export async function ensureDatabase(db: DatabaseConfig): Promise<void> {
  const conn = await createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    connectTimeout: 10_000,
  }).catch((err: unknown) => Promise.reject(database(err)));
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${db.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await conn.end();
  }
}

export interface MigrationReport {
  applied: string[];
}

/**
 * Applies pending migrations under a MySQL named lock, so several workers starting at once
 * apply them exactly once: the others wait for the lock, then find nothing pending.
 */
export async function runMigrations(ds: DataSource, lockTimeoutSeconds = 120): Promise<MigrationReport> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  const lockName = `pcs_migrate_${ds.options.database as string}`.slice(0, 64);
  try {
    const rows = (await runner.query('SELECT GET_LOCK(?, ?) AS got', [lockName, lockTimeoutSeconds])) as {
      got: number | null;
    }[];
    if (Number(rows[0]?.got) !== 1)
      throw new Error(`could not take the migration lock ${lockName} within ${lockTimeoutSeconds}s`);
    const applied = await ds.runMigrations({ transaction: 'each' });
    return { applied: applied.map((m) => m.name) };
  } finally {
    await runner.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    await runner.release();
  }
}

/** Connects (creating the database if needed) and applies pending migrations. */
export async function openDatabase(
  db: DatabaseConfig,
  opts: DataSourceOptions & { migrate?: boolean } = {},
): Promise<{ ds: DataSource; migrations: MigrationReport }> {
  if (opts.migrate !== false) await ensureDatabase(db).catch(() => undefined);
  const ds = createDataSource(db, opts);
  await ds.initialize();
  try {
    const migrations = opts.migrate === false ? { applied: [] } : await runMigrations(ds);
    return { ds, migrations };
  } catch (err) {
    await ds.destroy().catch(() => undefined);
    throw err;
  }
}

/**
 * A cheap liveness query with its own deadline (for /readyz and the monitor); answers the
 * database's clock (UTC), the time every run and check is stamped with.
 */
export async function pingDatabase(ds: DataSource, timeoutMs = 3_000): Promise<Date> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const rows = (await Promise.race([
      ds.query('SELECT UTC_TIMESTAMP(3) AS now'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(databaseTimeout(timeoutMs)), timeoutMs);
      }),
    ])) as { now: Date | string }[];
    const v = rows[0]!.now;
    return v instanceof Date ? v : new Date(`${String(v).replace(' ', 'T')}Z`);
  } finally {
    clearTimeout(timer);
  }
}
