import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job, type MinimalJob, type Queue, type WorkerOptions } from 'bullmq';
import type { RedisClient } from './connection.js';
import type { z } from 'zod';
import type { MetricsRecorder } from './counters.js';
import type { AnyJobDefinition, JobDefinition } from './definition.js';
import { InvalidPayloadError, parsePayload } from './queues.js';
import type { QueueName } from './names.js';

/** A handler receives the payload already parsed by its definition's schema. */
export type JobHandler<S extends z.ZodType = z.ZodType> = (
  payload: z.output<S>,
  job: Job,
  signal?: AbortSignal,
) => Promise<unknown>;

/** A definition with the handler that runs it (see apps/worker/src/handlers). */
export interface HandlerEntry {
  definition: AnyJobDefinition;
  handler: JobHandler;
}

/** 2 s, 4 s, 8 s … capped at 64 s, with ±25 % jitter (docs/contract.md §6a, for deliveries). */
export function cappedExponentialDelay(
  attemptsMade: number,
  baseMs = 2_000,
  capMs = 64_000,
  random = Math.random,
): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = raw * (0.75 + random() * 0.5);
  return Math.round(Math.min(capMs, jittered));
}

export function workerName(queue: QueueName): string {
  return `pcs-worker:${queue}:${hostname()}:${process.pid}`;
}

/**
 * A BullMQ worker for one queue that dispatches by job name to the registered handlers and
 * validates every payload before its handler runs. A job with an unknown name or an invalid
 * payload fails at once (no retry can fix it) and stays visible in Bull Board. With `metrics`,
 * every completed or failed attempt adds its processing time (finishedOn − processedOn) to
 * `pcs_job_duration_seconds{queue,name}` (docs/contract.md §4).
 */
export function createDispatchingWorker(
  queue: QueueName,
  entries: readonly HandlerEntry[],
  connection: RedisClient,
  prefix: string,
  opts: Partial<WorkerOptions> = {},
  metrics?: MetricsRecorder,
): Worker {
  const table = new Map(entries.filter((e) => e.definition.queue === queue).map((e) => [e.definition.name, e]));
  const worker = new Worker(
    queue,
    async (job: Job, _token?: string, signal?: AbortSignal) => {
      const entry = table.get(job.name);
      if (!entry) throw new UnrecoverableError(`no handler for job "${job.name}" on queue ${queue} in this version`);
      let payload: unknown;
      try {
        payload = parsePayload(entry.definition, job.data);
      } catch (err) {
        if (err instanceof InvalidPayloadError) throw new UnrecoverableError(err.message);
        throw err;
      }
      return entry.handler(payload, job, signal);
    },
    {
      connection,
      prefix,
      name: workerName(queue),
      concurrency: 1,
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string, _err?: Error, job?: MinimalJob) => {
          if (type === 'capped-exponential') {
            const backoff = job?.opts.backoff;
            const base = typeof backoff === 'object' && backoff?.delay ? backoff.delay : 2_000;
            return cappedExponentialDelay(attemptsMade, base);
          }
          return 0;
        },
      },
      ...opts,
    },
  );
  if (metrics) {
    const record = (job: Job | undefined) => {
      if (!job?.processedOn) return;
      metrics.jobDuration(queue, job.name, ((job.finishedOn ?? Date.now()) - job.processedOn) / 1000);
    };
    worker.on('completed', record);
    worker.on('failed', record);
  }
  return worker;
}

/** The BullMQ states in which a job will still run (or is running). */
export const LIVE_JOB_STATES: ReadonlySet<string> = new Set([
  'active',
  'waiting',
  'wait',
  'delayed',
  'prioritized',
  'waiting-children',
]);

/**
 * BullMQ lists every connection of a worker (its command and blocking connections); our worker
 * name follows ':w:' in the raw client name, so one entry per worker remains.
 */
export function distinctWorkers(
  clients: Record<string, string>[],
): { name: string; addr: string; ageSeconds: number }[] {
  const seen = new Map<string, { name: string; addr: string; ageSeconds: number }>();
  for (const c of clients) {
    const raw = String(c.rawname ?? c.name ?? '');
    const own = raw.includes(':w:') ? raw.slice(raw.indexOf(':w:') + 3) : raw;
    if (!seen.has(own)) seen.set(own, { name: own, addr: String(c.addr ?? ''), ageSeconds: Number(c.age ?? 0) });
  }
  return [...seen.values()];
}

/** The workers serving a queue now (one entry per worker process and queue). */
export async function onlineWorkers(queue: Queue): Promise<ReturnType<typeof distinctWorkers>> {
  return distinctWorkers(await queue.getWorkers());
}

/**
 * A handler entry for a definition outside the catalogue of @pcs/jobs (tests, extensions). The
 * catalogue's own jobs get theirs from the typed map in apps/worker/src/handlers.
 */
export function handle<S extends z.ZodType>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  definition: JobDefinition<S, string, any>,
  handler: JobHandler<S>,
): HandlerEntry {
  return { definition, handler: handler as JobHandler };
}
