import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection } from 'mysql2/promise';
import { AppError, isRetryable, kindOf } from '@pcs/errors';
import { flavourOf, limitSql } from '../src/data-source.js';
import {
  createDataSource,
  databaseFailure,
  isDatabaseUnreachable,
  isRetryableDatabaseError,
  openDatabase,
  runMigrations,
  RunEntity,
  withDatabaseRetry,
} from '../src/index.js';
import { createTestDatabase, MYSQL, type TestDatabase } from '../../../test/support/index.js';

describe('statement timeout', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('stmttimeout');
    await (await openDatabase(db.config)).ds.destroy();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('stops a statement over the limit with a typed, retryable database error', async () => {
    const ds = createDataSource(db.config, { statementTimeoutMs: 300 });
    await ds.initialize();
    try {
      // under the limit: answered
      expect(await ds.query('SELECT SLEEP(0.01) AS s')).toEqual([{ s: 0 }]);
      for (const attempt of [
        () => ds.query('SELECT SLEEP(3)'),
        () => ds.transaction((m) => m.query('SELECT SLEEP(3)')),
        () => ds.getRepository(RunEntity).query('SELECT SLEEP(3)'),
      ]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AppError);
        expect(err).toMatchObject({ kind: 'database', source: 'database', code: 'STATEMENT_TIMEOUT' });
        expect(kindOf(err)).toBe('database');
        expect(databaseFailure(err)).toBe('timeout');
        expect(isRetryableDatabaseError(err)).toBe(true);
        expect(isRetryable(err)).toBe(true);
        // the server was reached: not an outage (the CLI's exit code 3)
        expect(isDatabaseUnreachable(err)).toBe(false);
        expect((err as Error).message).toMatch(/0\.3 s limit/);
      }
      // the connection is still usable after a stopped statement
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      // a retried step gives up when the budget is spent, with the typed error
      let tries = 0;
      const spent = await withDatabaseRetry(() => (tries++, ds.query('SELECT SLEEP(3)')), { budgetMs: 500 }).catch(
        (e: unknown) => e,
      );
      expect(databaseFailure(spent)).toBe('timeout');
      expect(tries).toBeGreaterThan(1);
    } finally {
      await ds.destroy();
    }
  });

  it('has no limit with statementTimeoutMs 0', async () => {
    const ds = createDataSource(db.config, { statementTimeoutMs: 0, poolSize: 1 });
    await ds.initialize();
    try {
      expect(await ds.query('SELECT SLEEP(0.5) AS s')).toEqual([{ s: 0 }]);
    } finally {
      await ds.destroy();
    }
  });

  it('migrations run without the limit (a wait longer than it), and the connection gets it back afterwards', async () => {
    // One pooled connection: the migrations run on it, and so does everything after them.
    const ds = createDataSource(db.config, { statementTimeoutMs: 300, poolSize: 1 });
    await ds.initialize();
    const holder = await createConnection({ ...MYSQL, database: db.config.database });
    try {
      // Another process holds the migration lock for longer than the limit.
      const lockName = `pcs_migrate_${db.config.database}`.slice(0, 64);
      await holder.query('SELECT GET_LOCK(?, 5)', [lockName]);
      const released = new Promise((r) => setTimeout(r, 1_200)).then(() =>
        holder.query('SELECT RELEASE_LOCK(?)', [lockName]),
      );
      const report = await runMigrations(ds);
      await released;
      expect(report.applied).toEqual([]);
      const err = await ds.query('SELECT SLEEP(3)').catch((e: unknown) => e);
      expect(databaseFailure(err)).toBe('timeout');
    } finally {
      await holder.end();
      await ds.destroy();
    }
  });

  it('sets the limit each server understands: MariaDB for every statement, MySQL 8 for reads, none before 5.7.8', () => {
    expect(flavourOf('10.11.19-MariaDB-0+deb12u1')).toBe('mariadb');
    expect(flavourOf('8.4.3')).toBe('mysql');
    expect(flavourOf('5.7.8-log')).toBe('mysql');
    expect(flavourOf('5.7.7')).toBe('none');
    expect(limitSql('mariadb', 60_000)).toBe('max_statement_time = 60.000');
    expect(limitSql('mysql', 60_000)).toBe('max_execution_time = 60000');
    expect(limitSql('mysql', 0)).toBe('max_execution_time = 0');
    expect(limitSql('none', 60_000)).toBeUndefined();
  });
});
