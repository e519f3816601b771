export * from './entities.js';
export {
  createDataSource,
  ensureDatabase,
  explainConnectError,
  openDatabase,
  pingDatabase,
  runMigrations,
  type DataSourceOptions,
  type MigrationReport,
} from './data-source.js';
export * from './errors.js';
export { recordCheckResult, latestCheckResults } from './repositories.js';
export { DataSource, In, IsNull, Like, MoreThanOrEqual, Not, type EntityManager, type Repository } from 'typeorm';
