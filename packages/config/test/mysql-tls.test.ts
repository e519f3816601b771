import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, databaseTlsOptions, parseConfig } from '../src/index.js';

/** MYSQL_SSL, MYSQL_SSL_CA and DATABASE_URL's TLS parameters (docs/contract.md §3). */

const base = { MYSQL_USER: 'root' };
const issuesOf = (env: Record<string, string>) => {
  try {
    parseConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
};

const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

describe.skipIf(!openssl)('MySQL TLS settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-mysql-tls-config-'));
  const ca = join(dir, 'ca.pem');
  beforeAll(() => {
    execFileSync(
      openssl!,
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=pcs config test CA'].concat([
        '-keyout',
        join(dir, 'ca-key.pem'),
        '-out',
        ca,
      ]),
      { stdio: 'pipe' },
    );
    writeFileSync(join(dir, 'not-pem.txt'), 'hello\n');
    writeFileSync(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is off by default; true/1/yes turn it on, verified against Node’s CAs without MYSQL_SSL_CA', () => {
    expect(parseConfig(base).database.ssl).toBeUndefined();
    expect(databaseTlsOptions(parseConfig(base).database)).toBeUndefined();
    for (const v of ['true', 'TRUE', '1', 'yes', 'on'])
      expect(parseConfig({ ...base, MYSQL_SSL: v }).database.ssl).toEqual({});
    for (const v of ['false', '0', 'no', 'off', ''])
      expect(parseConfig({ ...base, MYSQL_SSL: v }).database.ssl).toBeUndefined();
    const db = parseConfig({ ...base, MYSQL_SSL: 'true', MYSQL_HOST: 'db.example.com' }).database;
    expect(databaseTlsOptions(db)).toEqual({ rejectUnauthorized: true, verifyIdentity: true });
  });

  it('with MYSQL_SSL_CA the PEM is read at start and trusted; the host name is checked unless the host is an IP', () => {
    const db = parseConfig({ ...base, MYSQL_SSL: '1', MYSQL_SSL_CA: ca, MYSQL_HOST: 'db.example.com' }).database;
    expect(db.ssl?.caFile).toBe(ca);
    expect(db.ssl?.ca).toContain('-----BEGIN CERTIFICATE-----');
    expect(databaseTlsOptions(db)).toMatchObject({ ca: db.ssl!.ca, rejectUnauthorized: true, verifyIdentity: true });
    const byIp = parseConfig({ ...base, MYSQL_SSL: '1', MYSQL_SSL_CA: ca, MYSQL_HOST: '10.0.0.5' }).database;
    expect(databaseTlsOptions(byIp)).toMatchObject({ rejectUnauthorized: true, verifyIdentity: false });
  });

  it('a bad value names the variable: not a boolean, a missing, unreadable or non-PEM CA file, a CA without TLS', () => {
    expect(issuesOf({ MYSQL_SSL: 'maybe' })).toEqual([
      { variable: 'MYSQL_SSL', problem: 'expected true or false (or 1/0)' },
    ]);
    const missing = issuesOf({ MYSQL_SSL: 'true', MYSQL_SSL_CA: join(dir, 'nope.pem') });
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ variable: 'MYSQL_SSL_CA' });
    expect(missing[0]!.problem).toMatch(/cannot read .*nope\.pem: ENOENT/);
    expect(issuesOf({ MYSQL_SSL: 'true', MYSQL_SSL_CA: dir })[0]!.problem).toMatch(/cannot read .*: EISDIR/);
    expect(issuesOf({ MYSQL_SSL: 'true', MYSQL_SSL_CA: join(dir, 'not-pem.txt') })[0]!.problem).toMatch(
      /holds no PEM certificate/,
    );
    expect(issuesOf({ MYSQL_SSL: 'true', MYSQL_SSL_CA: join(dir, 'broken.pem') })[0]!.problem).toMatch(
      /unreadable certificate/,
    );
    expect(issuesOf({ MYSQL_SSL_CA: ca })).toEqual([
      {
        variable: 'MYSQL_SSL_CA',
        problem:
          'set but TLS to the database is off (expected MYSQL_SSL=true to use the CA, or leave MYSQL_SSL_CA unset)',
      },
    ]);
    // Every bad variable at once.
    expect(issuesOf({ MYSQL_SSL: 'maybe', MYSQL_SSL_CA: join(dir, 'nope.pem') }).map((i) => i.variable)).toEqual([
      'MYSQL_SSL',
      'MYSQL_SSL_CA',
    ]);
  });

  it('DATABASE_URL may turn TLS on itself (?ssl=true, ?ssl-mode=REQUIRED…); a contradiction or an unknown mode is a bad value', () => {
    const url = 'mysql://pcs:s3cret-pass@db.example.com:3306/pcs';
    for (const q of ['ssl=true', 'ssl=1', 'ssl-mode=REQUIRED', 'ssl_mode=VERIFY_IDENTITY', 'sslmode=verify-ca'])
      expect(parseConfig({ DATABASE_URL: `${url}?${q}` }).database.ssl, q).toEqual({});
    expect(parseConfig({ DATABASE_URL: `${url}?ssl-mode=REQUIRED`, MYSQL_SSL_CA: ca }).database.ssl?.caFile).toBe(ca);
    expect(parseConfig({ DATABASE_URL: `${url}?ssl-mode=DISABLED` }).database.ssl).toBeUndefined();
    const conflict = issuesOf({ DATABASE_URL: `${url}?ssl=false`, MYSQL_SSL: 'true' });
    expect(conflict.map((i) => i.variable)).toEqual(['DATABASE_URL']);
    const unknown = issuesOf({ DATABASE_URL: `${url}?ssl-mode=PREFERRED` });
    expect(unknown.map((i) => i.variable)).toEqual(['DATABASE_URL']);
    // The URL is a secret: its problem never echoes it.
    for (const i of [...conflict, ...unknown]) expect(i.problem).not.toContain('s3cret-pass');
  });
});
