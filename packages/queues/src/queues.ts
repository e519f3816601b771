import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from './connection.js';
import type { z } from 'zod';
import { AppError } from '@pcs/errors';
import type { AnyJobDefinition, JobDefinition } from './definition.js';
import { QUEUE_NAMES, type QueueName } from './names.js';

export type Queues = Record<QueueName, Queue>;

/** A payload its job's schema refuses: no retry can fix it (kind `bad_data`). */
export class InvalidPayloadError extends AppError {
  constructor(
    readonly job: string,
    readonly issues: string[],
  ) {
    super({ kind: 'bad_data', message: `invalid payload for job ${job}: ${issues.join('; ')}` });
    this.name = 'InvalidPayloadError';
  }
}

/**
 * A queue over a shared connection. The connection's errors (Redis away) are reported once by
 * whoever owns the connection (worker, dashboard, CLI); without a listener here BullMQ would
 * print every reconnection attempt of every queue on stderr.
 */
export function createQueue(name: QueueName, connection: RedisClient, prefix: string): Queue {
  const queue = new Queue(name, { connection, prefix });
  queue.on('error', () => undefined);
  return queue;
}

export function createQueues(
  connection: RedisClient,
  prefix: string,
  names: readonly QueueName[] = QUEUE_NAMES,
): Queues {
  const queues = {} as Queues;
  for (const name of names) queues[name] = createQueue(name, connection, prefix);
  return queues;
}

export async function closeQueues(queues: Partial<Queues>): Promise<void> {
  await Promise.allSettled(Object.values(queues).map((q) => q?.close()));
}

/** Validates a payload against its definition's schema; throws InvalidPayloadError naming every problem. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function parsePayload<S extends z.ZodType>(def: JobDefinition<S, string, any>, data: unknown): z.output<S> {
  const res = def.schema.safeParse(data);
  if (!res.success) {
    throw new InvalidPayloadError(
      def.name,
      res.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`),
    );
  }
  return res.data;
}

/** The job options a definition implies (retries, backoff, retention). */
export function jobOptionsOf(def: AnyJobDefinition): JobsOptions {
  return {
    attempts: def.attempts,
    backoff: def.backoff,
    removeOnComplete: def.removeOnComplete,
    removeOnFail: def.removeOnFail,
  };
}

/** Adds a job after validating its payload at the producer's edge. */
export async function enqueue<S extends z.ZodType>(
  queues: Partial<Queues>,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  def: JobDefinition<S, string, any>,
  data: z.input<S>,
  opts: JobsOptions = {},
) {
  const queue = queues[def.queue];
  if (!queue) throw new Error(`queue ${def.queue} is not open in this process`);
  const payload = parsePayload(def, data);
  return queue.add(def.name, payload, { ...jobOptionsOf(def), ...opts });
}
