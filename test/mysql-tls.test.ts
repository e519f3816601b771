import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../packages/config/src/index.js';
import { createDataSource } from '../packages/db/src/index.js';
import { dropPrefix, REDIS_URL, uniqueName, waitFor } from './support/index.js';
import { runCli } from './support/processes.js';

/**
 * MySQL over TLS (docs/contract.md §3: MYSQL_SSL, MYSQL_SSL_CA) against a real MariaDB that
 * requires it: a mariadbd of its own on a spare port in a temporary directory (the machine's
 * MariaDB on 3306 is shared and is left alone), with a CA and a server certificate for 127.0.0.1
 * made here with openssl, and require_secure_transport=ON. Skipped, saying why, on a machine
 * without the MariaDB server binaries or openssl.
 */

const which = (cmd: string) =>
  ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]
    .map((d) => join(d, cmd))
    .find((p) => existsSync(p));
const mariadbd = which('mariadbd') ?? which('mysqld');
const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
const openssl = which('openssl');
const missing = [!mariadbd && 'mariadbd', !installDb && 'mariadb-install-db', !openssl && 'openssl'].filter(Boolean);
if (missing.length) console.warn(`mysql-tls: skipped, ${missing.join(', ')} not found`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function ssl(args: string[], cwd: string) {
  execFileSync(openssl!, args, { cwd, stdio: 'pipe' });
}

/** A CA, a server certificate it signed for IP 127.0.0.1 only, and an unrelated second CA. */
function makeCertificates(dir: string) {
  const san = join(dir, 'san.cnf');
  writeFileSync(san, 'subjectAltName=IP:127.0.0.1\n');
  for (const name of ['ca', 'other-ca'])
    ssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=pcs test ${name}`].concat([
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.pem`,
      ]),
      dir,
    );
  ssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=pcs test server'].concat([
      '-keyout',
      'server-key.pem',
      '-out',
      'server.csr',
    ]),
    dir,
  );
  ssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '2',
    ].concat(['-out', 'server-cert.pem', '-extfile', san]),
    dir,
  );
}

describe.skipIf(missing.length > 0)('MySQL over TLS (a MariaDB of its own that requires it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-mysql-tls-'));
  const password = `tls-${randomBytes(9).toString('hex')}`;
  const database = uniqueName('tls');
  const prefix = uniqueName('tls');
  let server: ChildProcess | undefined;
  let port = 0;
  const killServer = () => {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };
  // A test runner that dies leaves no mariadbd behind.
  process.once('exit', killServer);

  const env = (extra: Record<string, string>) => ({
    ENV_FILE: 'none',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    MYSQL_HOST: '127.0.0.1',
    MYSQL_PORT: String(port),
    MYSQL_USER: 'pcs',
    MYSQL_PASSWORD: password,
    MYSQL_DATABASE: database,
    LOG_DIR: join(dir, 'logs'),
    ...extra,
  });
  const tls = { MYSQL_SSL: 'true', MYSQL_SSL_CA: join(dir, 'ca.pem') };

  beforeAll(async () => {
    makeCertificates(dir);
    const data = join(dir, 'data');
    const asRoot = userInfo().uid === 0 ? ['--user=root'] : [];
    const install = spawnSync(
      installDb!,
      ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asRoot],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
    port = await freePort();
    const socket = join(dir, 'sock');
    server = spawn(
      mariadbd!,
      [
        '--no-defaults',
        ...asRoot,
        `--datadir=${data}`,
        `--port=${port}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mariadbd.pid')}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=16M',
        `--ssl-ca=${join(dir, 'ca.pem')}`,
        `--ssl-cert=${join(dir, 'server-cert.pem')}`,
        `--ssl-key=${join(dir, 'server-key.pem')}`,
        '--require-secure-transport=ON',
        `--log-error=${join(dir, 'error.log')}`,
      ],
      { stdio: 'ignore' },
    );
    // The Unix socket is a secure transport: the test's own user is made through it.
    const admin = await waitFor(() => createConnection({ socketPath: socket, user: 'root' }).catch(() => undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `mariadbd on port ${port}`,
    });
    await admin.query(`CREATE USER 'pcs'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    await admin.query(`GRANT ALL ON *.* TO 'pcs'@'127.0.0.1'`);
    await admin.end();
  }, 60_000);

  afterAll(async () => {
    killServer();
    process.removeListener('exit', killServer);
    rmSync(dir, { recursive: true, force: true });
    await dropPrefix(prefix);
  });

  it('migrate creates the database and applies the schema over TLS, verified against MYSQL_SSL_CA', async () => {
    const r = await runCli(['migrate', '--json'], env(tls), 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ database, applied: expect.arrayContaining(['Init1764200000000']) });
  }, 40_000);

  it('the pool of every process (createDataSource) talks TLS; status reads the database through it', async () => {
    const ds = createDataSource(parseConfig(env(tls)).database, { poolSize: 1 });
    await ds.initialize();
    try {
      const [row] = (await ds.query("SHOW SESSION STATUS LIKE 'Ssl_version'")) as { Value: string }[];
      expect(row?.Value).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await ds.destroy();
    }
    const r = await runCli(['status', '--json'], env(tls), 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ database: { ok: true } });
  }, 40_000);

  it('every wrong TLS setting is refused: exit 3, a message naming what to change, no password', async () => {
    // Four CLI runs at once (each is mostly Node starting up).
    const [plain, otherCa, noCa, wrongName] = await Promise.all([
      runCli(['migrate', '--json'], env({ MYSQL_SSL: 'false' }), 45_000),
      runCli(['migrate'], env({ ...tls, MYSQL_SSL_CA: join(dir, 'other-ca.pem') }), 45_000),
      // Node's own CAs do not know this test CA (nor, usually, a managed database's).
      runCli(['migrate'], env({ MYSQL_SSL: 'true' }), 45_000),
      // localhost reaches the same server, but the certificate names only IP 127.0.0.1: the name
      // is checked, not only the chain.
      runCli(['migrate'], env({ ...tls, MYSQL_HOST: 'localhost' }), 45_000),
    ]);
    for (const r of [plain, otherCa, noCa, wrongName]) {
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout + r.stderr).not.toContain(password);
    }

    // Without TLS: MariaDB says "access denied"; the message says why that may be.
    const { error } = JSON.parse(plain.stdout) as { error: { code: number; message: string } };
    expect(error.code).toBe(3);
    expect(error.message).toContain('require_secure_transport');
    expect(error.message).toContain('MYSQL_SSL=true');

    for (const r of [otherCa, noCa]) {
      expect(r.stderr).toMatch(/TLS to the database server at 127\.0\.0\.1:\d+ failed: self[- ]signed certificate/);
      expect(r.stderr).toContain('MYSQL_SSL_CA');
    }
    expect(wrongName.stderr).toMatch(/TLS to the database server at localhost:\d+ failed: .*altnames/);
  }, 60_000);
});
