import type { Config } from '@pcs/config';
import type { DataSource } from '@pcs/db';
import type { Loggers } from '@pcs/logger';
import type { Queues } from '@pcs/queues';
import type { Redis } from 'ioredis';
import type { Apis } from './apis.js';

/** What every handler may use: typed config, the log channels, the database, the queues (as a producer). */
export interface WorkerContext {
  config: Config;
  loggers: Loggers;
  ds: DataSource;
  queues: Queues;
  redis: Redis;
  /** The API clients, created on first use (a notifications-only worker needs none). */
  apis: () => Apis;
}
