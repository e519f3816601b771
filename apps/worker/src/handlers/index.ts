import type { HandlerEntry } from '@pcs/queues';
import type { WorkerContext } from '../context.js';
import { checkQueuesHandler } from './check-queues.js';

/**
 * The handlers this version implements, one file per job. Jobs of the registry without a
 * handler here are not scheduled by this worker (see syncSchedulers in worker.ts).
 */
export function createHandlers(ctx: WorkerContext): HandlerEntry[] {
  return [checkQueuesHandler(ctx)];
}
