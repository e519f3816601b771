import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import basicAuth from 'express-basic-auth';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RedisClient } from '@pcs/queues';
import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { buildStatus } from '@pcs/ops';
import { QUEUE_NAMES, type Queues } from '@pcs/queues';
import { createHealth, downParts } from './health.js';
import { createTargetedIntake } from './intake.js';
import { createMetrics } from './metrics.js';
import { webhookRouter } from './webhook.js';

export interface DashboardDeps {
  config: Config;
  queues: Queues;
  redis: RedisClient;
  /** The database may be down at start and come back later. */
  getDs: () => DataSource | undefined;
  log: Logger;
}

export const BOARD_PATH = '/admin/queues';

/** The HTTP surface of docs/contract.md §4. */
export function createApp(deps: DashboardDeps): Express {
  const { config, queues, redis, getDs, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  const auth = config.dashboard.auth
    ? basicAuth({
        users: { [config.dashboard.auth.user]: config.dashboard.auth.password },
        challenge: true,
        realm: 'pipedrive-chatwoot-sync',
      })
    : (_req: Request, _res: Response, next: NextFunction) => next();

  // --- no auth: probes and metrics
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // docs/contract.md §4: say which part is down, never the driver's words (those are in the log).
  const health = createHealth(redis, getDs, log);
  app.get('/readyz', async (_req, res) => {
    const down = downParts(await health.check());
    if (down.length) res.status(503).json({ status: 'unavailable', down });
    else res.json({ status: 'ready' });
  });

  const metrics = createMetrics(queues, getDs, health, log, {
    target: config,
    counters: { redis, prefix: config.redis.prefix },
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.scrape());
  });

  // --- Basic auth: Bull Board and the status API
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: QUEUE_NAMES.map((q) => new BullMQAdapter(queues[q], { description: QUEUE_DESCRIPTIONS[q] })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Pipedrive-Chatwoot Sync', hideRedisDetails: true } },
  });
  app.use(BOARD_PATH, auth, serverAdapter.getRouter());
  app.get('/', auth, (_req, res) => res.redirect(BOARD_PATH));

  app.get('/api/status', auth, async (_req, res, next) => {
    try {
      res.json(await buildStatus({ config, queues, ds: getDs(), redis }));
    } catch (err) {
      next(err);
    }
  });

  app.use(webhookRouter(config, createTargetedIntake(queues, redis, config.dashboard.webhookMaxPending), log));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status >= 500) log.error({ err }, 'request failed');
    res.status(status).json({ error: status >= 500 ? 'internal error' : err.message });
  });
  return app;
}

const QUEUE_DESCRIPTIONS: Record<(typeof QUEUE_NAMES)[number], string> = {
  sync: 'Pipedrive → Chatwoot sync runs, upsert batches and webhook upserts',
  cleanup: 'Contacts of organizations that stopped being customers',
  monitor: 'Health checks, one job name per check',
  notifications: 'Alert deliveries to Google Chat (and email)',
};
