import type { BackoffOptions, KeepJobs } from 'bullmq';
import type { z } from 'zod';
import type { QueueName } from './names.js';

export interface ScheduleSpec<Data> {
  /** Milliseconds between runs, or a cron pattern (in `tz`). */
  every?: number;
  pattern?: string;
  tz?: string;
  data: Data;
}

/**
 * One kind of job: its name, queue, payload schema, retry policy and (optionally) its schedule,
 * side by side. The catalogue of jobs is `@pcs/jobs`; each job's handler is
 * `apps/worker/src/handlers/<job>.ts`, and receives the parsed payload. `Cfg` is the
 * configuration the schedule is derived from (this package does not know its shape).
 */
export interface JobDefinition<Schema extends z.ZodType = z.ZodType, Name extends string = string, Cfg = unknown> {
  name: Name;
  queue: QueueName;
  description: string;
  schema: Schema;
  attempts: number;
  backoff?: BackoffOptions;
  removeOnComplete: KeepJobs;
  removeOnFail: KeepJobs;
  /** The schedule this job runs on, derived from configuration; undefined → only on demand. */
  schedule?: (config: Cfg) => ScheduleSpec<z.input<Schema>> | undefined;
}

/** A definition of any payload, name and configuration (for lists of definitions). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobDefinition = JobDefinition<z.ZodType, string, any>;

export type PayloadOf<D> = D extends JobDefinition<infer S, string, infer _C> ? z.output<S> : never;
export type InputOf<D> = D extends JobDefinition<infer S, string, infer _C> ? z.input<S> : never;

export function defineJob<Schema extends z.ZodType, Name extends string, Cfg = unknown>(
  def: JobDefinition<Schema, Name, Cfg>,
): JobDefinition<Schema, Name, Cfg> {
  return def;
}

/** Keep a day of completed jobs (at most 1000) and a week of failed ones, for Bull Board and `status`. */
export const KEEP_COMPLETED: KeepJobs = { age: 24 * 3600, count: 1000 };
export const KEEP_FAILED: KeepJobs = { age: 7 * 24 * 3600, count: 5000 };

/** The id of a definition's job scheduler in Redis: stable, so re-upserting replaces instead of duplicating. */
export function schedulerId(def: Pick<AnyJobDefinition, 'name'>): string {
  return `schedule:${def.name}`;
}
