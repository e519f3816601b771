import type { DataSource } from 'typeorm';
import { CheckResultEntity, type CheckResult } from './entities.js';

/** Small, named queries shared by the worker, the CLI and the dashboard. */

export async function recordCheckResult(ds: DataSource, row: Omit<CheckResult, 'id'>): Promise<void> {
  await ds.getRepository(CheckResultEntity).save(ds.getRepository(CheckResultEntity).create(row));
}

/** The newest result of each check. */
export async function latestCheckResults(ds: DataSource): Promise<CheckResult[]> {
  return ds
    .getRepository(CheckResultEntity)
    .createQueryBuilder('c')
    .where('c.id IN (SELECT MAX(c2.id) FROM check_results c2 GROUP BY c2.check_name)')
    .orderBy('c.check', 'ASC')
    .getMany();
}
