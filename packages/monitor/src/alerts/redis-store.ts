import { randomUUID } from 'node:crypto';
import { scanKeys, type RedisClient } from '@pcs/queues';
import { AppError } from '@pcs/errors';
import type { AlertRecord, Decision } from './decide.js';
import { matches, type AlertSelector, type AlertStore, type OutboxChannel, type OutboxEntry } from './store.js';

const DATE_FIELDS = [
  'firstFiredAt',
  'lastFiredAt',
  'lastNotifiedAt',
  'resolvedAt',
  'silencedUntil',
  'updatedAt',
] as const;

function parse(raw: string): AlertRecord {
  const r = JSON.parse(raw) as Record<string, unknown>;
  for (const f of DATE_FIELDS) r[f] = r[f] ? new Date(r[f] as string) : null;
  return r as unknown as AlertRecord;
}

/** Deletes the lock only if it is still ours. */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

const LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Alert state in Redis, for what MySQL cannot hold: the database's own alert, and any alert raised
 * while it is down. A fingerprint is evaluated under a lock of its own (SET NX PX, released only by
 * its holder), and the new state and its outbox entry are written in one MULTI.
 */
export class RedisAlertStore implements AlertStore {
  readonly name = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key = (fp: string) => `${this.prefix}:alerts:state:${fp}`;
  private lockKey = (fp: string) => `${this.prefix}:alerts:lock:${fp}`;
  private outboxKey = (channel: OutboxChannel) => `${this.prefix}:alerts:outbox:${channel}`;

  async transact(
    fingerprint: string,
    _create: boolean,
    decide: (prev: AlertRecord | undefined) => Decision,
    channel: OutboxChannel,
  ): Promise<Decision> {
    const token = randomUUID();
    const lock = this.lockKey(fingerprint);
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline)
        throw new AppError({
          kind: 'redis',
          source: 'redis',
          message: `alert ${fingerprint} is locked by another process`,
        });
      await sleep(20 + Math.random() * 30);
    }
    try {
      const raw = await this.redis.get(this.key(fingerprint));
      const d = decide(raw ? parse(raw) : undefined);
      if (d.next || d.notify) {
        const tx = this.redis.multi();
        if (d.next) tx.set(this.key(fingerprint), JSON.stringify(d.next));
        if (d.notify)
          tx.rpush(this.outboxKey(channel), JSON.stringify({ id: randomUUID(), fingerprint, alert: d.notify }));
        const res = await tx.exec();
        const failed = res?.find(([err]) => err);
        if (!res || failed)
          throw new AppError({ kind: 'redis', source: 'redis', message: 'could not store the alert state' });
      }
      return d;
    } finally {
      await this.redis.eval(RELEASE, 1, lock, token).catch(() => undefined);
    }
  }

  async get(fingerprint: string): Promise<AlertRecord | undefined> {
    const raw = await this.redis.get(this.key(fingerprint));
    return raw ? parse(raw) : undefined;
  }

  async list(): Promise<AlertRecord[]> {
    const out: AlertRecord[] = [];
    // Every master of a Cluster (scanKeys); the keys of one batch share the prefix's slot, so one MGET.
    for await (const keys of scanKeys(this.redis, `${this.prefix}:alerts:state:*`))
      for (const raw of await this.redis.mget(...keys)) if (raw) out.push(parse(raw));
    return out;
  }

  async firing(selector?: AlertSelector): Promise<AlertRecord[]> {
    return (await this.list()).filter((r) => r.state === 'firing' && matches(r.fingerprint, selector));
  }

  async remove(fingerprint: string): Promise<void> {
    await this.redis.del(this.key(fingerprint));
  }

  /** The raw list entries handed out by `pending`, so `relayed` removes exactly those. */
  private readonly handedOut = new Map<string, { channel: OutboxChannel; raw: string }>();

  async pending(channel: OutboxChannel, limit: number): Promise<OutboxEntry[]> {
    const raws = await this.redis.lrange(this.outboxKey(channel), 0, limit - 1);
    return raws.map((raw) => {
      const e = JSON.parse(raw) as OutboxEntry;
      this.handedOut.set(e.id, { channel, raw });
      return e;
    });
  }

  async relayed(id: string): Promise<void> {
    const entry = this.handedOut.get(id);
    if (!entry) return;
    await this.redis.lrem(this.outboxKey(entry.channel), 1, entry.raw);
    this.handedOut.delete(id);
  }

  /** Claims by taking the entry off the list (LREM removes it once: one caller gets 1). */
  async claim(id: string): Promise<boolean> {
    const entry = this.handedOut.get(id);
    if (!entry) return false;
    const removed = await this.redis.lrem(this.outboxKey(entry.channel), 1, entry.raw);
    return removed === 1;
  }

  async release(id: string): Promise<void> {
    const entry = this.handedOut.get(id);
    if (entry) await this.redis.lpush(this.outboxKey(entry.channel), entry.raw);
  }
}
