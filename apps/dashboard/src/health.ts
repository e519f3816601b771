import type { RedisClient } from '@pcs/queues';
import { AppError, withTimeout as bounded, type ErrorKind } from '@pcs/errors';
import { pingDatabase, type DataSource } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import { pingRedis } from '@pcs/queues';

/** The parts of the deployment the dashboard can see from outside (docs/contract.md §4 `pcs_up{part}`). */
export const PARTS = ['redis', 'database'] as const;
export type Part = (typeof PARTS)[number];
export type PartsUp = Record<Part, boolean>;

export interface Health {
  /**
   * Whether Redis and the database answer, from one probe shared by every caller within `ttlMs`
   * (so a flood of /readyz or /metrics costs one ping of each). Never rejects, and never carries
   * the driver's words: those go to the log, once per change.
   */
  check(): Promise<PartsUp>;
}

export function createHealth(
  redis: RedisClient,
  getDs: () => DataSource | undefined,
  log: Logger,
  opts: { ttlMs?: number; timeoutMs?: number } = {},
): Health {
  const ttlMs = opts.ttlMs ?? 1_000;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  let last: { at: number; up: PartsUp } | undefined;
  let inflight: Promise<PartsUp> | undefined;
  const known: Partial<PartsUp> = {};

  const note = (part: Part, up: boolean, err?: unknown) => {
    if (known[part] === up) return;
    // The first observation is only logged when it is bad news.
    if (up && known[part] !== undefined) log.info({ part }, `${part} reachable again`);
    if (!up) log.warn({ part, err }, `${part} unreachable`);
    known[part] = up;
  };

  const probe = async (): Promise<PartsUp> => {
    const [redisUp, databaseUp] = await Promise.all([
      pingRedis(redis, timeoutMs).then(
        () => (note('redis', true), true),
        (err: unknown) => (note('redis', false, err), false),
      ),
      (async () => {
        const ds = getDs();
        if (!ds?.isInitialized) return (note('database', false, 'not connected'), false);
        return pingDatabase(ds, timeoutMs).then(
          () => (note('database', true), true),
          (err: unknown) => (note('database', false, err), false),
        );
      })(),
    ]);
    return { redis: redisUp, database: databaseUp };
  };

  return {
    check() {
      if (last && Date.now() - last.at < ttlMs) return Promise.resolve(last.up);
      inflight ??= probe()
        .then((up) => ((last = { at: Date.now(), up }), up))
        .finally(() => (inflight = undefined));
      return inflight;
    },
  };
}

/** The parts that are down, in a fixed order: what /readyz names. */
export function downParts(up: PartsUp): Part[] {
  return PARTS.filter((p) => !up[p]);
}

/** Rejects with an AppError of `kind` when `p` has not settled within `ms` (the promise itself goes on). */
export function withTimeout<T>(p: Promise<T>, ms: number, kind: ErrorKind, what: string): Promise<T> {
  return bounded(p, ms, () => new AppError({ kind, message: `${what} took longer than ${ms} ms` }));
}
