import type { Server } from 'node:http';
import { ConfigError, loadConfig } from '@pcs/config';
import { openDatabase, type DataSource } from '@pcs/db';
import { createLoggers } from '@pcs/logger';
import { closeQueues, createQueues, createRedis } from '@pcs/queues';
import { createApp } from './app.js';
import { startWatchdog } from './watchdog.js';

// Started by a parent with an IPC channel (`pnpm run demo`): stop the same way when it is gone,
// even if it died without a word (SIGKILL). Registered first, so no startup delay misses it;
// before the stop handlers exist, SIGTERM simply ends the process.
let stoppingSince = 0;
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => {
    if (!stoppingSince) process.kill(process.pid, 'SIGTERM');
  });
}

/**
 * `pnpm run dashboard`: Bull Board, health, metrics and the status API on DASHBOARD_PORT.
 * Refuses to start without DASHBOARD_USER/DASHBOARD_PASSWORD unless DASHBOARD_AUTH=off.
 */
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(['dashboardAuth']);
} catch (err) {
  // A bad value stops the process before any work: one line per offending variable, exit 2.
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const loggers = await createLoggers(config, { channels: ['worker', 'monitor', 'alerts'] });
const log = loggers.get('worker').child({ process: 'dashboard' });
if (!config.dashboard.auth)
  log.warn('DASHBOARD_AUTH=off: Bull Board and the status API are open to anyone who can reach this port');

const redis = createRedis(config.redis, 'producer');
let lastRedisError = 0;
redis.on('error', (err: Error) => {
  if (Date.now() - lastRedisError > 10_000) log.error({ err }, 'Redis connection error');
  lastRedisError = Date.now();
});
const queues = createQueues(redis, config.redis.prefix);

// The database may be down when the dashboard starts: keep trying, serve /readyz = 503 meanwhile.
let ds: DataSource | undefined;
let dbTimer: NodeJS.Timeout | undefined;
const connectDb = async () => {
  try {
    ds = (await openDatabase(config.database, { migrate: false, poolSize: 4, connectTimeoutMs: 5_000 })).ds;
    log.info('database connected');
  } catch (err) {
    log.warn({ err }, 'database not reachable yet; retrying in 10 s');
    dbTimer = setTimeout(() => void connectDb(), 10_000);
  }
};
await connectDb();

const app = createApp({ config, queues, redis, getDs: () => ds, log });
const watchdog = startWatchdog(config, queues, redis, () => ds, loggers.get('alerts').child({ process: 'dashboard' }));
const onListening = () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.dashboard.port;
  const host = config.dashboard.host;
  const shown = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  log.info(
    { port, board: `http://${shown}:${port}/admin/queues`, host: host ?? 'all interfaces' },
    'dashboard listening',
  );
};
const server: Server = config.dashboard.host
  ? app.listen(config.dashboard.port, config.dashboard.host, onListening)
  : app.listen(config.dashboard.port, onListening);
server.on('error', (err) => {
  log.error({ err }, 'dashboard could not listen');
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stoppingSince) {
      // One Ctrl-C can arrive twice (the terminal's group and a parent relaying it).
      if (Date.now() - stoppingSince < 2_000) return;
      process.exit(1);
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'dashboard stopping');
    clearTimeout(dbTimer);
    watchdog.stop();
    const force = setTimeout(() => process.exit(0), 10_000);
    force.unref();
    server.close(() => {
      void (async () => {
        await closeQueues(queues);
        redis.disconnect();
        await ds?.destroy().catch(() => undefined);
        log.info('dashboard stopped');
        await loggers.close();
        process.exit(0);
      })();
    });
    server.closeAllConnections();
  });
}
