import { ConfigError, loadConfig, readEnv, type Requirement } from '@pcs/config';
import { isServiceUnreachable } from '@pcs/db';
import { describeError, isKind } from '@pcs/errors';
import { startWorker } from './worker.js';

/**
 * `pnpm run worker`: every processor this process serves (WORKER_QUEUES), the job schedulers,
 * and a graceful stop on SIGTERM/SIGINT (exit 0). Binds no port, so several can run on one host.
 */

// A worker that only delivers notifications needs no Pipedrive or Chatwoot credentials.
const served = (readEnv().WORKER_QUEUES ?? 'sync,cleanup,monitor,notifications').split(',').map((s) => s.trim());
const requirements: Requirement[] = served.some((q) => q && q !== 'notifications')
  ? ['database', 'pipedrive', 'chatwoot']
  : ['database'];
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(requirements);
} catch (err) {
  // A bad value stops the process before any work: one line per offending variable, exit 2.
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}

let running: Awaited<ReturnType<typeof startWorker>> | undefined;
let firstSignalAt = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (firstSignalAt) {
      // One Ctrl-C can arrive twice (the terminal's group and a parent relaying it): a repeat
      // within 2 s is the same request. A later one is an operator who will not wait.
      if (Date.now() - firstSignalAt < 2_000) return;
      process.stderr.write(`second ${signal}: exiting now\n`);
      process.exit(1);
    }
    firstSignalAt = Date.now();
    if (!running) process.exit(0);
    void running.stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

// Started by a parent with an IPC channel (`pnpm run demo`): stop the same way when it is gone,
// even if it died without a word (SIGKILL), so nothing is left running behind it.
if (process.channel) {
  process.channel.unref();
  // A stop already under way goes on: this is not an operator's impatient second signal.
  process.once('disconnect', () => {
    if (!firstSignalAt) process.kill(process.pid, 'SIGTERM');
  });
}

try {
  running = await startWorker(config);
} catch (err) {
  const { kind, message } = describeError(err);
  process.stderr.write(`worker could not start (${kind}): ${message}\n`);
  // docs/contract.md §2 exit codes: 3 Redis or the database cannot be reached, 2 bad configuration.
  process.exit(isServiceUnreachable(err) ? 3 : isKind(err, 'config') ? 2 : 1);
}
