import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { AppError, maskUrl, tagError, withTimeout } from '@pcs/errors';

export type ConnectionRole = 'worker' | 'producer';

/** A connection to one server (plain or Sentinel-found) or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is (the `redis` part of @pcs/config's Config; see README "Scaling out"). A plain
 * string is one server's URL.
 */
export interface RedisTarget {
  url: string;
  sentinels?: { host: string; port: number }[];
  sentinelName?: string;
  sentinelPassword?: string;
  clusterNodes?: { host: string; port: number }[];
  tls?: { ca?: string };
}

type SendCommand = Redis['sendCommand'];

/**
 * Every error a command of this connection rejects with carries the kind `redis` (see
 * @pcs/errors), whoever issued it (BullMQ, a lock, the rate-limit pause). The error itself (class,
 * message) is left as ioredis made it, since BullMQ looks at both. A Cluster routes every command
 * through its own sendCommand before picking a node, so the same wrap tags its errors too.
 */
function typeRedisErrors<T extends RedisClient>(redis: T): T {
  const target = redis as unknown as { sendCommand: SendCommand };
  const send = target.sendCommand.bind(redis) as SendCommand;
  target.sendCommand = ((
    command: Parameters<SendCommand>[0],
    stream?: Parameters<SendCommand>[1],
    ...rest: unknown[]
  ) => {
    const reject = command.reject.bind(command);
    command.reject = (err: Error) => reject(tagError(err, 'redis', 'redis'));
    return (send as (...a: unknown[]) => unknown)(command, stream, ...rest);
  }) as SendCommand;
  return redis;
}

/** Username, password, database and TLS of a redis:// or rediss:// URL, as ioredis options. */
function urlOptions(target: RedisTarget): RedisOptions {
  const u = new URL(target.url);
  const opts: RedisOptions = {};
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db) opts.db = Number(db);
  if (u.protocol === 'rediss:') opts.tls = target.tls?.ca ? { ca: target.tls.ca } : {};
  return opts;
}

function roleOptions(role: ConnectionRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true }
    : {
        maxRetriesPerRequest: 1,
        connectTimeout: 5_000,
        enableOfflineQueue: true,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
      };
}

/**
 * The one way every process (worker, dashboard, CLI, demo) opens Redis, on one shared
 * configuration. Workers (blocking commands) need `maxRetriesPerRequest: null`; producers (CLI,
 * dashboard, HTTP intake) fail fast instead of hanging when Redis is away, so a request gets an
 * answer and the CLI its exit code 3.
 *
 * The topology follows the target (README "Scaling out"):
 * - one server at `url` (`rediss://` for TLS, trusting `tls.ca` when given);
 * - `sentinels`: the master of `sentinelName` as the Sentinels report it, followed across a
 *   failover (ioredis asks the Sentinels again on every reconnect and on a READONLY reply). The
 *   URL's username, password, db and TLS apply to the master; `sentinelPassword` to the Sentinels,
 *   which are reached over TLS (same CA) when the URL is rediss://;
 * - `clusterNodes`: an ioredis Cluster over those seed nodes, with the URL's credentials and TLS
 *   for every node. The caller's key prefix must carry a hash tag (`{pcs}`, done by @pcs/config).
 */
export function createRedis(target: RedisTarget | string, role: ConnectionRole, extra: RedisOptions = {}): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const base = roleOptions(role);
  if (t.clusterNodes?.length) {
    // A Cluster takes the reconnect policy and the offline queue at its top level, the rest per node.
    const { retryStrategy, enableOfflineQueue, lazyConnect, ...nodeExtra } = { ...base, ...extra };
    const opts: ClusterOptions = {
      redisOptions: { ...urlOptions(t), ...nodeExtra },
      enableReadyCheck: true,
      // Nodes whose connection drops come back by themselves (MOVED alone would wait for traffic).
      clusterNodeRetryStrategy: (times) => Math.min(times * 200, 2_000),
    };
    if (retryStrategy !== undefined) opts.clusterRetryStrategy = retryStrategy;
    if (enableOfflineQueue !== undefined) opts.enableOfflineQueue = enableOfflineQueue;
    if (lazyConnect !== undefined) opts.lazyConnect = lazyConnect;
    if (role === 'producer') opts.slotsRefreshTimeout = 2_000;
    return typeRedisErrors(new Cluster(t.clusterNodes, opts));
  }
  if (t.sentinels?.length) {
    const fromUrl = urlOptions(t);
    const opts: RedisOptions = {
      ...base,
      ...fromUrl,
      sentinels: t.sentinels,
      name: t.sentinelName ?? 'mymaster',
      sentinelPassword: t.sentinelPassword,
      // The Sentinels are asked again within a second or two when the master goes away, so that
      // work moves to the promoted replica well within the 60 s of docs/contract.md §6a.
      sentinelRetryStrategy: (times) => Math.min(times * 200, 2_000),
      ...extra,
    };
    if (fromUrl.tls) {
      opts.enableTLSForSentinelMode = true;
      opts.sentinelTLS = fromUrl.tls;
    }
    return typeRedisErrors(new Redis(opts));
  }
  return typeRedisErrors(new Redis(t.url, { ...base, ...urlOptions(t), ...extra }));
}

/** Where the target is, for messages ("cannot reach …"): never a password. */
export function describeRedis(target: RedisTarget | string): string {
  const t: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const list = (nodes: { host: string; port: number }[]) =>
    nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  if (t.clusterNodes?.length) return `the Redis Cluster at ${list(t.clusterNodes)}`;
  if (t.sentinels?.length)
    return `Redis (master '${t.sentinelName ?? 'mymaster'}' of the Sentinels at ${list(t.sentinels)})`;
  return `Redis at ${maskUrl(t.url)}`;
}

/**
 * Every key matching `pattern`, batch by batch. A Cluster's SCAN would go to one node picked at
 * random, so there every master is scanned (our keys carry the prefix's hash tag, so they all live
 * on the one master of that slot; scanning all of them stays right across a resharding).
 */
export async function* scanKeys(redis: RedisClient, pattern: string, count = 500): AsyncGenerator<string[]> {
  // A Cluster knows its masters once it is ready: a first command waits for that (offline queue).
  if (redis instanceof Cluster && redis.status !== 'ready') await redis.ping();
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }
}

/** Resolves when Redis answers PING, rejects (kind `redis`) after `timeoutMs`. */
export async function pingRedis(redis: RedisClient, timeoutMs = 3_000): Promise<void> {
  await withTimeout(
    redis.ping(),
    timeoutMs,
    () => new AppError({ kind: 'redis', source: 'redis', message: `Redis did not answer within ${timeoutMs} ms` }),
  );
}
