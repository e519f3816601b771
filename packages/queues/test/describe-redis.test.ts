import { describe, expect, it } from 'vitest';
import { describeRedis } from '../src/connection.js';

// What the worker's start line, the CLI's "cannot reach …" and the demo's error say about Redis.
describe('describeRedis', () => {
  it('masks the password, even one holding an unencoded @, and keeps the host', () => {
    const d = describeRedis('redis://default:p@ss@redis.example:6379/2');
    expect(d).toBe('Redis at redis://default:***@redis.example:6379/2');
    expect(d).not.toContain('ss@');
  });

  it('masks a password given in the query', () => {
    const d = describeRedis('rediss://redis.example:6380?password=s3cret&family=6');
    expect(d).toBe('Redis at rediss://redis.example:6380?password=***&family=6');
  });

  it('says nothing of credentials it cannot parse', () => {
    expect(describeRedis('redis://user:pa ss@[bad')).not.toContain('pa ss');
  });

  it('names the Sentinels and the Cluster nodes, never a password', () => {
    expect(
      describeRedis({ url: 'redis://:secret@x', sentinels: [{ host: '10.0.0.1', port: 26379 }], sentinelName: 'm' }),
    ).toBe("Redis (master 'm' of the Sentinels at 10.0.0.1:26379)");
    expect(describeRedis({ url: 'redis://:secret@x', clusterNodes: [{ host: '::1', port: 7000 }] })).toBe(
      'the Redis Cluster at [::1]:7000',
    );
  });
});
