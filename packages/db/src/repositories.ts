import { In, type DataSource } from 'typeorm';
import { CheckResultEntity, type CheckResult } from './entities.js';

/** Small, named queries shared by the worker, the CLI and the dashboard. */

export async function recordCheckResult(ds: DataSource, row: Omit<CheckResult, 'id'>): Promise<void> {
  await ds.getRepository(CheckResultEntity).save(ds.getRepository(CheckResultEntity).create(row));
}

/**
 * The newest result of each check: the newest id of each check name by a loose index scan of
 * (check_name, id) (one index dive per check, however many results are stored), then those rows.
 */
export async function latestCheckResults(ds: DataSource): Promise<CheckResult[]> {
  const newest = (await ds.query('SELECT MAX(id) AS id FROM check_results GROUP BY check_name')) as {
    id: string | number;
  }[];
  if (!newest.length) return [];
  return ds
    .getRepository(CheckResultEntity)
    .find({ where: { id: In(newest.map((r) => Number(r.id))) }, order: { check: 'ASC' } });
}
