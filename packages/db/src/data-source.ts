import 'reflect-metadata';
import { DataSource, MigrationExecutor } from 'typeorm';
import { createConnection } from 'mysql2/promise';
import { databaseTlsOptions, type DatabaseConfig } from '@pcs/config';
import { AppError, tagError, withTimeout } from '@pcs/errors';
import { DATABASE_TLS, databaseTimeout, isStatementTimeout, statementTimeout } from './errors.js';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

export interface DataSourceOptions {
  /** Pool size per process. */
  poolSize?: number;
  /** Fail fast when the server does not answer (ms). */
  connectTimeoutMs?: number;
  /**
   * The longest a statement may run before the server stops it (ms); 0: no limit. Default
   * DEFAULT_STATEMENT_TIMEOUT_MS. Migrations run without it (see runMigrations).
   */
  statementTimeoutMs?: number;
}

/**
 * No statement of this project should take long: runs, batches, outcomes and checks are written
 * and read in small chunks. One that runs this long is stopped by the server (a typed error, see
 * `databaseFailure` → `timeout`) instead of holding a connection and its locks indefinitely.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;

export function createDataSource(db: DatabaseConfig, opts: DataSourceOptions = {}): DataSource {
  const limitMs = Math.max(0, opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS);
  return typeDatabaseErrors(
    limitMs,
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
      // The same TLS settings for every connection of every process (databaseTlsOptions).
      ssl: databaseTlsOptions(db),
    }),
    db,
  );
}

const database = (err: unknown) => tagError(err, 'database', 'database');

/**
 * Which statement limit the server has: MariaDB's `max_statement_time` (seconds, every
 * statement), MySQL's `max_execution_time` (ms, SELECT only, since 5.7.8), or none.
 */
export type Flavour = 'mariadb' | 'mysql' | 'none';

export function flavourOf(version: string): Flavour {
  if (/mariadb/i.test(version)) return 'mariadb';
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return major * 10_000 + minor * 100 + patch >= 50_708 ? 'mysql' : 'none';
}

/** The SQL that sets a session's statement limit (0: none), or undefined when the server has none. */
export function limitSql(flavour: Flavour, ms: number): string | undefined {
  if (flavour === 'mariadb') return `max_statement_time = ${(ms / 1000).toFixed(3)}`;
  if (flavour === 'mysql') return `max_execution_time = ${Math.round(ms)}`;
  return undefined;
}

type Callback = (err: unknown, rows?: unknown) => void;
type RawConnection = { query(sql: string, cb: Callback): void };

function rawQuery(conn: RawConnection, sql: string): Promise<unknown> {
  return new Promise((resolve, reject) => conn.query(sql, (err, rows) => (err ? reject(err) : resolve(rows))));
}

/** What a data source knows of its server's sessions. */
interface Sessions {
  limitMs: number;
  flavour?: Promise<Flavour>;
  /** Connections whose session is set up already (pooled connections are reused). */
  ready: WeakSet<object>;
}

const sessionsOf = new WeakMap<DataSource, Sessions>();

/**
 * Every session runs in UTC, whatever the server's own time zone: NOW(), CURRENT_TIMESTAMP
 * defaults and the Dates TypeORM reads and writes (timezone 'Z') then agree, and UTC_TIMESTAMP is
 * the one clock runs and checks are stamped with. And every session has the statement limit.
 */
async function setUp<C>(sessions: Sessions, conn: C): Promise<C> {
  if (!conn || sessions.ready.has(conn as object)) return conn;
  const c = conn as unknown as RawConnection;
  sessions.flavour ??= rawQuery(c, 'SELECT VERSION() AS v').then(
    (rows) => flavourOf(String((rows as { v?: unknown }[])[0]?.v ?? '')),
    (err: unknown) => {
      sessions.flavour = undefined;
      throw err;
    },
  );
  const limit = sessions.limitMs ? limitSql(await sessions.flavour, sessions.limitMs) : undefined;
  await rawQuery(c, `SET time_zone = '+00:00'${limit ? `, ${limit}` : ''}`);
  sessions.ready.add(conn as object);
  return conn;
}

/**
 * Every error of this data source carries the kind `database` (see @pcs/errors): connecting,
 * queries, transactions, whatever repository or query builder issued them. TypeORM runs all of
 * them through a query runner, so the runner's methods are where the kind is attached; the
 * driver's own error (class, code, message) is left as it is, except a statement the server
 * stopped at the limit: that becomes a typed AppError (failure `timeout`), its cause the driver's.
 */
function typeDatabaseErrors(limitMs: number, ds: DataSource, db: DatabaseConfig): DataSource {
  const sessions: Sessions = { limitMs, ready: new WeakSet() };
  sessionsOf.set(ds, sessions);
  const typed = (err: unknown) => (isStatementTimeout(err) ? statementTimeout(err, limitMs) : database(err));
  const initialize = ds.initialize.bind(ds);
  ds.initialize = () => initialize().catch((err: unknown) => Promise.reject(explainConnectError(database(err), db)));
  const driver = ds.driver;
  const create = driver.createQueryRunner.bind(driver);
  driver.createQueryRunner = (mode) => {
    const runner = create(mode);
    const connect = runner.connect.bind(runner);
    runner.connect = async () => setUp(sessions, await connect());
    for (const method of [
      'connect',
      'query',
      'startTransaction',
      'commitTransaction',
      'rollbackTransaction',
    ] as const) {
      const original = (runner[method] as (...args: unknown[]) => Promise<unknown>).bind(runner);
      (runner as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        original(...args).catch((err: unknown) => Promise.reject(typed(err)));
    }
    return runner;
  };
  return ds;
}

/** The driver's code of a connection error (mysql2 puts it on the error itself). */
const driverCode = (err: unknown) => (err as { code?: unknown } | undefined)?.code;

/**
 * A connection refused over TLS said in the operator's words: what failed and which variable to
 * change (MYSQL_SSL, MYSQL_SSL_CA). A typed error of kind `database` whose cause is the driver's
 * error; its code (DATABASE_TLS, or the server's ER_… code) reads as `denied` to `databaseFailure`:
 * exit 3, fix the configuration. Only where a data source connects first (initialize,
 * ensureDatabase), so a TLS handshake cut short later by the network stays a retryable
 * `unreachable`. Other errors are returned as they are.
 */
export function explainConnectError(err: unknown, db: DatabaseConfig): unknown {
  const code = driverCode(err);
  const where = `the database server at ${db.host}:${db.port}`;
  const driverMessage = err instanceof Error ? err.message : String(err);
  const typed = (message: string, as = String(code)) =>
    new AppError({ kind: 'database', source: 'database', code: as, message, cause: err });
  if (code === 'HANDSHAKE_SSL_ERROR') {
    const trust = db.ssl?.caFile
      ? `signed by the CA in MYSQL_SSL_CA (${db.ssl.caFile})`
      : "signed by a CA Node trusts (a managed database's CA is usually not: set MYSQL_SSL_CA to your provider's CA bundle)";
    return typed(
      `TLS to ${where} failed: ${driverMessage} (the server's certificate must be ${trust} and name the host ${db.host})`,
      DATABASE_TLS,
    );
  }
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT')
    return typed(
      `${where} does not offer TLS, but MYSQL_SSL=true (enable TLS on the server, or set MYSQL_SSL=false)`,
      DATABASE_TLS,
    );
  if (code === 'ER_SECURE_TRANSPORT_REQUIRED')
    return typed(`${where} requires TLS (require_secure_transport): ${driverMessage} (set MYSQL_SSL=true)`);
  // MariaDB refuses a connection without TLS under require_secure_transport as "access denied".
  if (code === 'ER_ACCESS_DENIED_ERROR' && !db.ssl)
    return typed(
      `${driverMessage} (if ${where} requires TLS — MariaDB's require_secure_transport answers "access denied" to a connection without it — set MYSQL_SSL=true)`,
    );
  return err;
}

/** Creates the database itself when it is missing (first start on a fresh server). */
export async function ensureDatabase(db: DatabaseConfig): Promise<void> {
  const conn = await createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    connectTimeout: 10_000,
    ssl: databaseTlsOptions(db),
  }).catch((err: unknown) => Promise.reject(explainConnectError(database(err), db)));
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
 * apply them exactly once: the others wait for the lock, then find nothing pending. They run on
 * one connection whose statement limit is lifted (a migration may build an index on a big
 * table); that connection gets the limit back before anything else uses it.
 */
export async function runMigrations(ds: DataSource, lockTimeoutSeconds = 120): Promise<MigrationReport> {
  const runner = ds.createQueryRunner();
  const conn = (await runner.connect()) as object;
  const sessions = sessionsOf.get(ds);
  const lockName = `pcs_migrate_${ds.options.database as string}`.slice(0, 64);
  try {
    const unlimited = sessions?.flavour ? limitSql(await sessions.flavour, 0) : undefined;
    if (unlimited) await runner.query(`SET ${unlimited}`);
    const rows = (await runner.query('SELECT GET_LOCK(?, ?) AS got', [lockName, lockTimeoutSeconds])) as {
      got: number | null;
    }[];
    if (Number(rows[0]?.got) !== 1)
      throw new Error(`could not take the migration lock ${lockName} within ${lockTimeoutSeconds}s`);
    const executor = new MigrationExecutor(ds, runner);
    executor.transaction = 'each';
    const applied = await executor.executePendingMigrations();
    return { applied: applied.map((m) => m.name) };
  } finally {
    await runner.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    // the next connect() of this pooled connection sets its session up again, limit included
    sessions?.ready.delete(conn);
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
  const rows = (await withTimeout(ds.query('SELECT UTC_TIMESTAMP(3) AS now'), timeoutMs, () =>
    databaseTimeout(timeoutMs),
  )) as { now: Date | string }[];
  const v = rows[0]!.now;
  return v instanceof Date ? v : new Date(`${String(v).replace(' ', 'T')}Z`);
}
