import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL, REDIS_URL, uniqueName } from './support/index.js';
import { portOpen, startMysqlProxy, startRedis, type OwnRedis } from './support/chaos.js';

/** Runs fn with a fresh client, so that no client has to live through a restart. */
async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

// The machine's shared Redis must never be stopped or flushed: a key set there before the tests
// must still be there after them.
const sentinel = uniqueName('chaos');
beforeAll(() => withRedis(REDIS_URL, (r) => r.set(sentinel, '1', 'EX', 300)));
afterAll(async () => {
  const left = await withRedis(REDIS_URL, async (r) => {
    const v = await r.get(sentinel);
    await r.del(sentinel);
    return v;
  });
  expect(left).toBe('1');
});

describe('startRedis', () => {
  const started: OwnRedis[] = [];
  afterAll(async () => {
    for (const r of started) await r.close();
  });
  const start = async (persist: boolean) => {
    const r = await startRedis({ persist });
    started.push(r);
    return r;
  };

  it('persist: true keeps data across restartWithData, on the same port; restartWithoutData and flushAll empty it', async () => {
    const redis = await start(true);
    const { port, url } = redis;
    expect(port).not.toBe(6379);
    expect(url).toBe(`redis://127.0.0.1:${port}`);
    await withRedis(url, async (r) => {
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      await r.set('k', 'v');
      await r.rpush('list', 'a', 'b');
    });

    await redis.stop();
    expect(redis.running).toBe(false);
    expect(await portOpen(port)).toBe(false);
    await redis.start();
    expect(redis.port).toBe(port);
    expect(await withRedis(url, (r) => r.get('k'))).toBe('v');

    await redis.restartWithData(100);
    expect(redis.port).toBe(port);
    expect(await withRedis(url, async (r) => [await r.get('k'), await r.lrange('list', 0, -1)])).toEqual([
      'v',
      ['a', 'b'],
    ]);

    await redis.restartWithoutData();
    expect(redis.port).toBe(port);
    expect(await withRedis(url, (r) => r.dbsize())).toBe(0);

    await withRedis(url, (r) => r.set('k2', 'v2'));
    await redis.flushAll();
    expect(await withRedis(url, (r) => r.dbsize())).toBe(0);
    // flushAll is written to the AOF too: the data stays gone after a restart.
    await redis.restartWithData(0);
    expect(await withRedis(url, (r) => r.dbsize())).toBe(0);
  });

  it('persist: false comes back empty after stop()/start(), and refuses restartWithData', async () => {
    const redis = await start(false);
    await withRedis(redis.url, async (r) => {
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await r.config('GET', 'save')).toEqual(['save', '']);
      await r.set('k', 'v');
    });
    const port = redis.port;
    await redis.stop();
    await redis.start();
    expect(redis.port).toBe(port);
    expect(await withRedis(redis.url, (r) => r.dbsize())).toBe(0);
    await expect(redis.restartWithData(0)).rejects.toThrow(/persist: true/);
  });

  it('a start-up failure reports the tail of the server log', async () => {
    const redis = await start(false);
    await redis.stop();
    const blocker = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => blocker.listen(redis.port, '127.0.0.1', resolve));
    try {
      await expect(redis.start()).rejects.toThrow(/Address already in use/);
      expect(redis.running).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await redis.start();
    expect(await withRedis(redis.url, (r) => r.ping())).toBe('PONG');
  });

  it('close() is safe twice and after stop(), and removes the directory', async () => {
    const a = await startRedis();
    await a.close();
    await a.close();
    expect(existsSync(a.dir)).toBe(false);
    expect(await portOpen(a.port)).toBe(false);
    await expect(a.start()).rejects.toThrow(/after close/);

    const b = await startRedis({ persist: true });
    await b.stop();
    await b.close();
    await b.close();
    expect(existsSync(b.dir)).toBe(false);
  });
});

describe('startMysqlProxy', () => {
  it('passes queries; cut() drops open connections and refuses new ones; restore() listens again on the same port', async () => {
    const proxy = await startMysqlProxy();
    const opts = { host: '127.0.0.1', port: proxy.port, user: 'root', password: '', connectTimeout: 2_000 };
    try {
      expect(proxy.port).not.toBe(MYSQL.port);
      const conn = await createConnection(opts);
      conn.on('error', () => {});
      const [rows] = await conn.query('SELECT 1 + 1 AS n');
      expect(rows).toEqual([{ n: 2 }]);
      expect(proxy.connections).toBe(1);

      await proxy.cut();
      expect(proxy.up).toBe(false);
      expect(proxy.connections).toBe(0);
      await expect(conn.query('SELECT 1')).rejects.toThrow();
      await expect(createConnection(opts)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      // MariaDB itself is untouched.
      const direct = await createConnection(MYSQL);
      expect((await direct.query('SELECT 2 AS n'))[0]).toEqual([{ n: 2 }]);
      await direct.end();

      const port = proxy.port;
      await proxy.restore();
      expect(proxy.port).toBe(port);
      const again = await createConnection(opts);
      expect((await again.query('SELECT 3 AS n'))[0]).toEqual([{ n: 3 }]);
      await again.end();
    } finally {
      await proxy.close();
      await proxy.close();
    }
    expect(await portOpen(proxy.port)).toBe(false);
  });
});
