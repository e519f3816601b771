import { randomUUID } from 'node:crypto';
import { parseConfig, type Config } from '../../packages/config/src/index.js';
import { openDatabase, RunEntity, type DataSource, type Run } from '../../packages/db/src/index.js';
import { createSimulator, SIM_DEFAULTS, type Simulator } from '@pcs/simulator';
import { createTestDatabase, dropPrefix, tempDir, testEnv, uniqueName, waitFor, type TestDatabase } from './index.js';

/**
 * A test stack: the simulator on a free loopback port, an own database and BullMQ prefix, and the
 * environment that points the worker, dashboard and CLI at them.
 */
export interface TestStack {
  sim: Simulator;
  db: TestDatabase;
  prefix: string;
  env: Record<string, string>;
  config(extra?: Record<string, string>): Config;
  /** A data source on the test database (migrated), for assertions. */
  ds(): Promise<DataSource>;
  waitForRun(runId: string, timeoutMs?: number): Promise<Run>;
  close(): Promise<void>;
}

export async function createStack(label: string, extra: Record<string, string> = {}): Promise<TestStack> {
  const sim = createSimulator({ seed: 7 });
  await sim.start();
  const db = await createTestDatabase(label);
  const prefix = uniqueName(label);
  const env = testEnv({
    prefix,
    database: db.config.database,
    logDir: tempDir(`${label}-logs`),
    extra: {
      PIPEDRIVE_BASE_URL: sim.pipedriveBaseUrl,
      PIPEDRIVE_API_KEY: SIM_DEFAULTS.pipedriveToken,
      CHATWOOT_BASE_URL: `${sim.chatwootBaseUrl}/api/v1/accounts/${SIM_DEFAULTS.chatwootAccountId}`,
      CHATWOOT_API_KEY: SIM_DEFAULTS.chatwootAdminToken,
      SUPPORT_GOOGLE_CHAT: sim.gchatWebhookUrl(),
      DEFAULT_COUNTRY_CODE: '+61',
      ...extra,
    },
  });
  let ds: DataSource | undefined;
  const getDs = async () => {
    ds ??= (await openDatabase(db.config, { poolSize: 2 })).ds;
    return ds;
  };
  return {
    sim,
    db,
    prefix,
    env,
    config: (more = {}) => parseConfig({ ...env, ...more }),
    ds: getDs,
    async waitForRun(runId, timeoutMs = 30_000) {
      const d = await getDs();
      return waitFor(
        async () => {
          const run = await d.getRepository(RunEntity).findOneBy({ id: runId });
          return run && run.status !== 'running' ? run : undefined;
        },
        { timeoutMs, intervalMs: 100, what: `run ${runId} to end` },
      );
    },
    async close() {
      await ds?.destroy();
      await sim.stop();
      await dropPrefix(prefix);
      await db.drop();
    },
  };
}

export { randomUUID };
