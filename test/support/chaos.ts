import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MYSQL, waitFor } from './index.js';

/**
 * Fault injection for tests: a Redis server of the test's own, which the test may crash, restart
 * with or without its data, and a TCP proxy in front of MariaDB that the test may cut. Neither ever
 * touches the machine's shared Redis (6379) or MariaDB (3306): the Redis runs on its own free port in
 * its own temp directory, and the proxy only closes the connections that went through it.
 */

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const LOG_FILE = 'redis.log';
const SHARED_PORTS = new Set([6379, MYSQL.port]);

/** A free loopback port: listen on port 0, note the port the kernel chose, close. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    if (!SHARED_PORTS.has(port)) return port;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitPortClosed(port: number, what: string): Promise<void> {
  await waitFor(async () => !(await portOpen(port)) || undefined, { timeoutMs: 10_000, intervalMs: 20, what });
}

// Children still alive when the test process exits (a test that forgot close(), a crash) are killed
// with it, so that no redis-server outlives the run.
const children = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

export interface OwnRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The server's working directory (data files and `redis.log`). */
  readonly dir: string;
  readonly persist: boolean;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** Crashes the server (SIGKILL, no save) and waits until its port is closed. No-op when stopped. */
  stop(): Promise<void>;
  /** Starts the server again, on the same port, and waits until it answers PING. No-op when running. */
  start(): Promise<void>;
  /** stop(), delete every data file, start(): the server comes back empty. */
  restartWithoutData(): Promise<void>;
  /** stop(), wait downMs, start() with the data kept. Needs `persist: true`. */
  restartWithData(downMs: number): Promise<void>;
  flushAll(): Promise<void>;
  /** The last lines of the server's log. */
  logTail(lines?: number): string;
  /** Stops for good and deletes the directory. Safe to call twice, and after stop(). */
  close(): Promise<void>;
}

/**
 * Starts a redis-server of the test's own on a free loopback port, in a fresh temp directory.
 *
 * Persistence (`persist: true`): append-only file with `appendfsync always`. Redis writes and
 * fsyncs the AOF before it sends the reply, so every acknowledged write survives stop(), which is
 * a SIGKILL. (Save-on-shutdown would not: a killed server saves nothing.) RDB snapshots are off in
 * both modes; `persist: false` runs with `--save "" --appendonly no` and comes back empty.
 */
export async function startRedis(opts: { persist?: boolean } = {}): Promise<OwnRedis> {
  const persist = opts.persist ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'pcs-chaos-redis-'));
  const logPath = join(dir, LOG_FILE);
  let port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;

  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    // The log goes to stdout, which is redis.log in the directory (appended to on every start), so
    // that errors that come before a log file would be opened (a bad option) land in it too.
    '--logfile',
    '',
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    persist ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--protected-mode',
    'no',
    '--loglevel',
    'notice',
  ];

  const logTail = (lines = 20) => {
    if (!existsSync(logPath)) return '(no log)';
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  };

  /** Spawns the server and resolves when it answers PING; rejects (with the log's tail) if it exits. */
  async function spawnServer(): Promise<void> {
    const out = openSync(logPath, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(REDIS_SERVER, args(), { cwd: dir, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    child = proc;
    track(proc);
    let gone = false;
    let spawnError: Error | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        gone = true;
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('error', (err) => {
        spawnError = err;
        gone = true;
        if (child === proc) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (gone || Date.now() > deadline) {
        proc.kill('SIGKILL');
        await exited;
        const why = spawnError
          ? `could not be started (${REDIS_SERVER}: ${spawnError.message})`
          : gone
            ? `exited (code ${proc.exitCode}, signal ${proc.signalCode})`
            : 'did not answer PING in 10 s';
        throw new Error(`redis-server on port ${port} ${why}\n--- ${logPath} ---\n${logTail()}`);
      }
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const redis: OwnRedis = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    persist,
    get running() {
      return child !== undefined;
    },
    async stop() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited;
      await waitPortClosed(port, `redis-server on port ${port} to close its port`);
    },
    async start() {
      if (closed) throw new Error(`startRedis: start() after close() (${dir})`);
      if (child) return;
      await spawnServer();
    },
    async restartWithoutData() {
      await redis.stop();
      for (const name of readdirSync(dir)) if (name !== LOG_FILE) rmSync(join(dir, name), { recursive: true });
      await redis.start();
    },
    async restartWithData(downMs) {
      if (!persist) throw new Error('restartWithData needs startRedis({ persist: true })');
      await redis.stop();
      await new Promise((r) => setTimeout(r, downMs));
      await redis.start();
    },
    async flushAll() {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
    logTail,
    async close() {
      if (closed) return;
      closed = true;
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  // The free port may be taken by someone else before the server binds it: try another one.
  for (let attempt = 1; ; attempt++) {
    try {
      await spawnServer();
      return redis;
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/i.test((err as Error).message)) {
        closed = true;
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      port = await freePort();
    }
  }
}

/**
 * PONG from the server on the port within a second (not LOADING, not refused, not a silent listener).
 * A raw inline PING on a socket that is always destroyed: cheaper than an ioredis client per attempt
 * and with nothing to reconnect or leak.
 */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const s = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1_000);
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

export interface MysqlProxy {
  /** The loopback port to connect to instead of MariaDB's. Stays the same across cut()/restore(). */
  readonly port: number;
  readonly host: '127.0.0.1';
  /** Whether the proxy accepts connections (false after cut()). */
  readonly up: boolean;
  /** Connections open through the proxy now. */
  readonly connections: number;
  /** Destroys every open connection and stops listening: new connections are refused, as a stopped MySQL looks. */
  cut(): Promise<void>;
  /** Listens again on the same port. No-op when up. */
  restore(): Promise<void>;
  /** cut() for good. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A TCP proxy on a free loopback port in front of MariaDB. Cutting it drops only the connections
 * that went through it; MariaDB itself is never stopped.
 */
export async function startMysqlProxy(
  target: { host: string; port: number } = { host: MYSQL.host, port: MYSQL.port },
): Promise<MysqlProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let closed = false;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        clients.add(client);
        client.pipe(upstream).pipe(client);
        const end = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
          clients.delete(client);
        };
        client.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });

  const cut = async () => {
    const srv = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    clients.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    host: '127.0.0.1',
    get up() {
      return server !== undefined;
    },
    get connections() {
      return clients.size;
    },
    cut,
    async restore() {
      if (closed) throw new Error('startMysqlProxy: restore() after close()');
      if (!server) await listen();
    },
    async close() {
      closed = true;
      await cut();
    },
  };
}
