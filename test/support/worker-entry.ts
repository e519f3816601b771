import { loadConfig } from '../../packages/config/src/index.js';
import { startWorker } from '../../apps/worker/src/worker.js';

/**
 * The worker as a process of its own (so a test can SIGKILL it), with the timings a fault test
 * shortens (PCS_TEST_TIMING, JSON of WorkerTiming); everything else is `pnpm run worker`.
 */
const timing = JSON.parse(process.env.PCS_TEST_TIMING ?? '{}') as Record<string, number>;
const running = await startWorker(loadConfig(['database']), { timing });
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => void running.stop(signal).then(() => process.exit(0)));
