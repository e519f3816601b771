import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, portOpen } from './chaos.js';
import { waitFor } from './index.js';

/**
 * Redis beyond one server, for tests (README "Scaling out"): a master with a replica and a
 * Sentinel, a three-node Cluster, a TLS-only server with a CA made here by openssl. Every server
 * is the test's own redis-server, on spare loopback ports, in a temp directory removed by close();
 * the machine's shared Redis (6379) is never touched.
 */

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';
const run = promisify(execFile);

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

export interface Server {
  readonly port: number;
  readonly dir: string;
  /** SIGKILL, and wait for the port to close. */
  kill(): Promise<void>;
  logTail(lines?: number): string;
}

/** redis-cli against one of our servers (`tls` adds --tls --cacert, `password` -a); its stdout, trimmed. */
export async function cli(
  port: number,
  args: string[],
  opts: { tls?: { ca: string }; password?: string } = {},
): Promise<string> {
  const conn = ['-h', '127.0.0.1', '-p', String(port)];
  if (opts.tls) conn.push('--tls', '--cacert', opts.tls.ca);
  if (opts.password) conn.push('--no-auth-warning', '-a', opts.password);
  const { stdout } = await run(REDIS_CLI, [...conn, ...args], { timeout: 10_000 });
  return stdout.trim();
}

/** Starts redis-server with `args` (a config file first, or options) and waits for PONG. */
async function startServer(
  port: number,
  dir: string,
  args: string[],
  opts: { tls?: { ca: string }; password?: string; name?: string } = {},
): Promise<Server> {
  const logPath = join(dir, `${opts.name ?? 'redis'}-${port}.log`);
  const out = openSync(logPath, 'a');
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  track(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const logTail = (lines = 30) =>
    existsSync(logPath) ? readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}`);
        return (await cli(port, ['PING'], opts)) === 'PONG' || undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: `redis-server on ${port}` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- ${logPath} ---\n${logTail()}`, { cause: err });
  }
  return {
    port,
    dir,
    logTail,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await waitFor(async () => !(await portOpen(port)) || undefined, { timeoutMs: 10_000, intervalMs: 50 });
    },
  };
}

const COMMON = [
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--protected-mode',
  'no',
  '--daemonize',
  'no',
];

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface SentinelSet {
  master: Server;
  replica: Server;
  sentinel: Server;
  /** `127.0.0.1:<port>` of the Sentinel (REDIS_SENTINELS). */
  sentinels: string;
  name: string;
  /** The master's port as the Sentinel reports it now. */
  masterPort(): Promise<number>;
  /** redis-cli to the Sentinel (with its password). */
  sentinelCli(args: string[]): Promise<string>;
  /** With `tls`: the CA's PEM file (REDIS_TLS_CA). */
  caFile?: string;
  close(): Promise<void>;
}

/**
 * A master, a replica of it and one Sentinel that watches them as `mymaster` (quorum 1, down
 * after 2 s), so `SENTINEL FAILOVER mymaster` promotes the replica within a few seconds. With
 * `auth`, the data servers require `auth.data` (requirepass, masterauth) and the Sentinel
 * `auth.sentinel`.
 */
export async function startSentinelSet(
  auth: { data?: string; sentinel?: string } = {},
  opts: { tls?: boolean } = {},
): Promise<SentinelSet> {
  const dataAuth = auth.data ? ['--requirepass', auth.data, '--masterauth', auth.data] : [];
  const dir = mkdtempSync(join(tmpdir(), 'pcs-sentinel-'));
  const name = 'mymaster';
  const [mp, rp, sp] = [await freePort(), await freePort(), await freePort()];
  const servers: Server[] = [];
  let caFile: string | undefined;
  try {
    // With TLS every server (and the Sentinel) listens on TLS only, and replication goes over TLS.
    let tlsArgs: string[] = [];
    let tlsConf: string[] = [];
    if (opts.tls) {
      const certs = await makeCertificates(dir);
      caFile = certs.ca;
      tlsArgs = ['--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca];
      tlsArgs.push('--tls-auth-clients', 'no', '--tls-replication', 'yes');
      tlsConf = [
        `tls-cert-file ${certs.cert}`,
        `tls-key-file ${certs.key}`,
        `tls-ca-cert-file ${certs.ca}`,
        'tls-auth-clients no',
        'tls-replication yes',
      ];
    }
    const tls = caFile ? { ca: caFile } : undefined;
    const portArgs = (port: number) =>
      tls ? ['--port', '0', '--tls-port', String(port), ...tlsArgs] : ['--port', String(port)];
    const master = await startServer(mp, dir, [...portArgs(mp), '--dir', dir, ...COMMON, ...dataAuth], {
      password: auth.data,
      tls,
    });
    servers.push(master);
    const replica = await startServer(
      rp,
      dir,
      [...portArgs(rp), '--dir', dir, ...COMMON, ...dataAuth, '--replicaof', '127.0.0.1', String(mp)],
      { password: auth.data, tls },
    );
    servers.push(replica);
    await waitFor(
      async () =>
        /master_link_status:up/.test(await cli(rp, ['INFO', 'replication'], { password: auth.data, tls })) || undefined,
      {
        timeoutMs: 15_000,
        what: 'the replica to sync with the master',
      },
    );
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        ...(tls ? ['port 0', `tls-port ${sp}`, ...tlsConf] : [`port ${sp}`]),
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${mp} 1`,
        `sentinel down-after-milliseconds ${name} 2000`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        ...(auth.data ? [`sentinel auth-pass ${name} ${auth.data}`] : []),
        ...(auth.sentinel ? [`requirepass ${auth.sentinel}`] : []),
        '',
      ].join('\n'),
    );
    const sentinel = await startServer(sp, dir, [conf, '--sentinel'], {
      name: 'sentinel',
      password: auth.sentinel,
      tls,
    });
    const sentinelCli = (args: string[]) => cli(sp, args, { password: auth.sentinel, tls });
    servers.push(sentinel);
    // The Sentinel learns of the replica from the master's INFO (its first look is at once).
    await waitFor(async () => (await sentinelCli(['SENTINEL', 'REPLICAS', name])).includes(String(rp)) || undefined, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'the Sentinel to see the replica',
    });
    return {
      master,
      replica,
      sentinel,
      sentinels: `127.0.0.1:${sp}`,
      name,
      sentinelCli,
      caFile,
      async masterPort() {
        const [, port] = (await sentinelCli(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name])).split('\n');
        return Number(port);
      },
      async close() {
        for (const s of servers) await s.kill().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const s of servers) await s.kill().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster

/** A port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portOpen(port)) || (await portOpen(port + 10_000))) continue;
    taken.add(port);
    taken.add(port + 10_000);
    return port;
  }
}

export interface TestCluster {
  nodes: Server[];
  /** `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (REDIS_CLUSTER_NODES). */
  nodeList: string;
  /** Every key of every master matching `pattern` (SCAN on each). */
  keys(pattern: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Three masters (no replicas) joined by `redis-cli --cluster create`, waited for until cluster_state:ok. */
export async function startCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-cluster-'));
  const taken = new Set<number>();
  const nodes: Server[] = [];
  const close = async () => {
    for (const s of nodes) await s.kill().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freeClusterPort(taken);
      nodes.push(
        await startServer(port, dir, [
          '--port',
          String(port),
          '--dir',
          dir,
          ...COMMON,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '5000',
        ]),
      );
    }
    await run(
      REDIS_CLI,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    for (const n of nodes)
      await waitFor(async () => /cluster_state:ok/.test(await cli(n.port, ['CLUSTER', 'INFO'])) || undefined, {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: `cluster_state:ok on ${n.port}`,
      });
    return {
      nodes,
      nodeList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
      async keys(pattern) {
        const all: string[] = [];
        for (const n of nodes) {
          const out = await cli(n.port, ['--scan', '--pattern', pattern]);
          if (out) all.push(...out.split('\n'));
        }
        return all;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// TLS

export interface TlsRedis {
  server: Server;
  /** `rediss://127.0.0.1:<port>` */
  url: string;
  /** The CA's PEM file (REDIS_TLS_CA). */
  caFile: string;
  close(): Promise<void>;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, made with openssl in `dir`. */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const p = (f: string) => join(dir, f);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir, timeout: 30_000 });
  await openssl(
    ['req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048', '-sha256', '-days', '2'].concat([
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-subj',
      '/CN=pcs test CA',
    ]),
  );
  await openssl(
    ['req', '-new', '-nodes', '-newkey', 'rsa:2048', '-sha256'].concat([
      '-keyout',
      p('server.key'),
      '-out',
      p('server.csr'),
      '-subj',
      '/CN=localhost',
    ]),
  );
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(
    ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key')].concat([
      '-CAcreateserial',
      '-out',
      p('server.crt'),
      '-days',
      '2',
      '-sha256',
      '-extfile',
      p('ext.cnf'),
    ]),
  );
  return { ca: p('ca.crt'), cert: p('server.crt'), key: p('server.key') };
}

/** redis-server that speaks TLS only (`--port 0 --tls-port P`), with a certificate of a CA made here. */
export async function startTlsRedis(): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-tls-redis-'));
  try {
    const certs = await makeCertificates(dir);
    const port = await freePort();
    const server = await startServer(
      port,
      dir,
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        certs.cert,
        '--tls-key-file',
        certs.key,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
        '--dir',
        dir,
        ...COMMON,
      ],
      { tls: { ca: certs.ca } },
    );
    return {
      server,
      url: `rediss://127.0.0.1:${port}`,
      caFile: certs.ca,
      async close() {
        await server.kill().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
