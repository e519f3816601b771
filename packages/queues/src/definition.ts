import type { BackoffOptions, KeepJobs } from 'bullmq';
import type { z } from 'zod';
import type { Config } from '@pcs/config';
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
 * side by side. The handler lives in apps/worker (handlers/<name>.ts) and receives the parsed payload.
 */
export interface JobDefinition<Schema extends z.ZodType = z.ZodType, Name extends string = string> {
  name: Name;
  queue: QueueName;
  description: string;
  schema: Schema;
  attempts: number;
  backoff?: BackoffOptions;
  removeOnComplete: KeepJobs;
  removeOnFail: KeepJobs;
  /** The schedule this job runs on, derived from configuration; undefined → only on demand. */
  schedule?: (config: Config) => ScheduleSpec<z.input<Schema>> | undefined;
}

export type PayloadOf<D> = D extends JobDefinition<infer S> ? z.output<S> : never;
export type InputOf<D> = D extends JobDefinition<infer S> ? z.input<S> : never;

export function defineJob<Schema extends z.ZodType, Name extends string>(
  def: JobDefinition<Schema, Name>,
): JobDefinition<Schema, Name> {
  return def;
}

/** Keep a day of completed jobs (at most 1000) and a week of failed ones, for Bull Board and `status`. */
export const KEEP_COMPLETED: KeepJobs = { age: 24 * 3600, count: 1000 };
export const KEEP_FAILED: KeepJobs = { age: 7 * 24 * 3600, count: 5000 };
