import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseRedisConfig } from '../src/index.js';

/** REDIS_SENTINELS, REDIS_SENTINEL_*, REDIS_CLUSTER_NODES, REDIS_TLS_CA (README "Redis beyond one server"). */
const base = { MYSQL_USER: 'x' };

function issues(env: Record<string, string>): string[] {
  try {
    parseConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.variable}: ${i.problem}`);
    throw err;
  }
  return [];
}

/** A real self-signed CA certificate (openssl): the file is parsed as a certificate, not only looked at. */
const pem = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-redis-ca-'));
  const file = join(dir, 'ca.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
      '-subj',
      '/CN=pcs redis config test CA',
      '-keyout',
      join(dir, 'ca-key.pem'),
      '-out',
      file,
    ]),
    { stdio: 'pipe' },
  );
  return file;
};

describe('Redis topology configuration', () => {
  it('one server by default: the URL and the bare prefix', () => {
    const { redis } = parseConfig(base);
    expect(redis).toMatchObject({ url: 'redis://127.0.0.1:6379', prefix: 'pcs', sentinelName: 'mymaster' });
    expect(redis.sentinels).toBeUndefined();
    expect(redis.clusterNodes).toBeUndefined();
    expect(redis.tls).toBeUndefined();
  });

  it('Sentinels: host:port list (IPv6 in brackets), name and password; the password is a secret', () => {
    const c = parseConfig({
      ...base,
      REDIS_SENTINELS: ' 10.0.0.5:26379, sentinel-b:26380 ,[::1]:26381',
      REDIS_SENTINEL_NAME: 'pcs-master',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret-1',
    });
    expect(c.redis.sentinels).toEqual([
      { host: '10.0.0.5', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    expect(c.redis.sentinelName).toBe('pcs-master');
    expect(c.redis.sentinelPassword).toBe('sentinel-secret-1');
    expect(c.redis.prefix).toBe('pcs');
    expect(c.secrets).toContain('sentinel-secret-1');
  });

  it('Cluster: the prefix is wrapped in a hash tag', () => {
    const c = parseConfig({ ...base, REDIS_CLUSTER_NODES: '10.0.0.7:6379,10.0.0.8:6379', QUEUE_PREFIX: 'acme' });
    expect(c.redis.clusterNodes).toHaveLength(2);
    expect(c.redis.prefix).toBe('{acme}');
  });

  it('rediss:// with REDIS_TLS_CA: the PEM is read', () => {
    const file = pem();
    const c = parseConfig({ ...base, REDIS_URL: 'rediss://:pw@redis.example:6380', REDIS_TLS_CA: file });
    expect(c.redis.tls?.ca).toMatch(/BEGIN CERTIFICATE/);
    expect(c.redis.tls?.caFile).toBe(file);
    expect(parseConfig({ ...base, REDIS_URL: 'rediss://redis.example' }).redis.tls).toEqual({});
  });

  it('every bad Redis variable is named at once', () => {
    const found = issues({
      REDIS_SENTINELS: '10.0.0.5,10.0.0.6:26379',
      REDIS_CLUSTER_NODES: 'node:99999',
      REDIS_SENTINEL_NAME: 'my master',
      REDIS_TLS_CA: '/nonexistent/ca.pem',
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^REDIS_SENTINELS: "10\.0\.0\.5" is not host:port/),
        expect.stringMatching(/^REDIS_CLUSTER_NODES: "node:99999" is not host:port/),
        expect.stringMatching(/^REDIS_SENTINEL_NAME: expected the master group name/),
        expect.stringMatching(/^REDIS_TLS_CA: set but REDIS_URL is not rediss:\/\//),
        expect.stringMatching(/^REDIS_TLS_CA: cannot read \/nonexistent\/ca\.pem: ENOENT/),
      ]),
    );
  });

  it('Sentinels and a Cluster together, a Cluster with a database, a CA that is no PEM: refused', () => {
    expect(issues({ REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2' })).toEqual([
      expect.stringMatching(/^REDIS_CLUSTER_NODES: set together with REDIS_SENTINELS/),
    ]);
    expect(issues({ REDIS_CLUSTER_NODES: 'b:2', REDIS_URL: 'redis://r/3' })).toEqual([
      expect.stringMatching(/^REDIS_URL: selects database 3, which a Redis Cluster does not have/),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'pcs-redis-ca-'));
    writeFileSync(join(dir, 'x.pem'), 'not a certificate');
    expect(issues({ REDIS_URL: 'rediss://r', REDIS_TLS_CA: join(dir, 'x.pem') })).toEqual([
      expect.stringMatching(/^REDIS_TLS_CA: .* holds no PEM certificate/),
    ]);
  });

  it('parseRedisConfig reads only the Redis variables (the demo), with the same checks', () => {
    expect(
      parseRedisConfig({ REDIS_CLUSTER_NODES: 'n:7000', QUEUE_PREFIX: 'pcs-demo', PIPEDRIVE_BASE_URL: 'x' }),
    ).toMatchObject({
      prefix: '{pcs-demo}',
      clusterNodes: [{ host: 'n', port: 7000 }],
    });
    expect(() => parseRedisConfig({ REDIS_SENTINELS: 'nope' })).toThrow(/REDIS_SENTINELS/);
  });
});
