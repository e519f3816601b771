import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@pcs/http';
import { createSimulator, SIM_DEFAULTS } from '@pcs/simulator';
import { ChatwootClient, msUntilNextMinute, parseRetryAfter } from '../src/index.js';
import type { ChatwootClientOptions } from '../src/index.js';

const sim = createSimulator({ port: 0, seed: 11 });

function client(over: Partial<ChatwootClientOptions> = {}): ChatwootClient {
  return new ChatwootClient({
    baseUrl: sim.chatwootBaseUrl,
    accountId: SIM_DEFAULTS.chatwootAccountId,
    apiKey: SIM_DEFAULTS.chatwootAdminToken,
    retry: { minBackoffMs: 5, maxBackoffMs: 20 },
    ...over,
  });
}

async function caught(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

/** A minute boundary (ms since the epoch) for a fake clock. */
const MINUTE = 28_333_333 * 60_000;

beforeAll(async () => {
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

describe('429 (rack-attack: text/plain "Retry later", no Retry-After)', () => {
  it('waits until the next minute boundary plus 0..2 s of jitter', () => {
    expect(msUntilNextMinute(MINUTE - 250, () => 0)).toBe(250);
    expect(msUntilNextMinute(MINUTE, () => 0)).toBe(60_000);
    expect(msUntilNextMinute(MINUTE + 1, () => 0.9999)).toBe(59_999 + 1_999);
    for (let i = 0; i < 50; i++) {
      const w = msUntilNextMinute(Date.now());
      expect(w).toBeGreaterThan(0);
      expect(w).toBeLessThanOrEqual(62_000);
    }
    expect(parseRetryAfter('7', 0)).toBe(7_000);
    expect(parseRetryAfter(new Date(MINUTE + 5_000).toUTCString(), MINUTE)).toBe(5_000);
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });

  it('gives the rate_limit to the caller when the wait is over the cap', async () => {
    sim.chatwoot.setFaults({ burst429: { count: 1 } });
    const waits: number[] = [];
    const cw = client({ retry: { maxRateLimitWaitMs: 0 }, hooks: { onRateLimited: (ms) => void waits.push(ms) } });
    const e = await caught(cw.contactCount());
    expect(e).toMatchObject({ type: 'rate_limit', status: 429, api: 'chatwoot' });
    expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(e.retryAfterMs).toBeLessThanOrEqual(62_000);
    expect(e.body).toContain('Retry later');
    expect(waits).toEqual([e.retryAfterMs]);
    expect(cw.counters.total).toBe(1);
  });

  it('waits out a burst and succeeds (fake clock 200 ms before the minute, no jitter)', async () => {
    sim.chatwoot.setFaults({ burst429: { count: 2 } });
    const waits: number[] = [];
    const cw = client({
      now: () => MINUTE - 200,
      random: () => 0,
      hooks: { onRateLimited: (ms) => void waits.push(ms) },
    });
    const started = Date.now();
    expect(await cw.contactCount()).toBe(0);
    expect(waits).toEqual([200, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(cw.counters.total).toBe(3);
    expect(cw.counters.byRoute['GET contacts']).toBe(3);
  });

  it('rate limits stop after rateLimitRetries', async () => {
    sim.chatwoot.setFaults({ burst429: { count: 5 } });
    const cw = client({ now: () => MINUTE - 1, random: () => 0, retry: { rateLimitRetries: 2 } });
    const e = await caught(cw.contactCount());
    expect(e.type).toBe('rate_limit');
    expect(cw.counters.total).toBe(3);
  });
});

describe('auth, 5xx, network', () => {
  it('a revoked token is auth after exactly one request, and the token never leaks', async () => {
    sim.chatwoot.setFaults({ badToken: true });
    const cw = client();
    const e = await caught(cw.getContact(1));
    expect(e).toMatchObject({ type: 'auth', status: 401 });
    expect(e.message).toContain('Invalid Access Token');
    expect(cw.counters.total).toBe(1);
    for (const text of [e.message, JSON.stringify(e.toJSON()), e.body ?? '', String(e.stack)]) {
      expect(text).not.toContain(SIM_DEFAULTS.chatwootAdminToken);
    }
  });

  it('an unknown token is auth; a token of another account is auth; an unknown account is not_found', async () => {
    const secret = 'cw-secret-token-do-not-log';
    const unknown = await caught(client({ apiKey: secret }).createContact({ name: 'x', email: 'x@example.com' }));
    expect(unknown.type).toBe('auth');
    expect(JSON.stringify(unknown.toJSON())).not.toContain(secret);
    expect(unknown.message).not.toContain(secret);

    const other = await caught(client({ accountId: SIM_DEFAULTS.chatwootOtherAccountId }).contactCount());
    expect(other.type).toBe('auth');
    expect(other.message).toContain(`member of account ${SIM_DEFAULTS.chatwootOtherAccountId}`);

    const missing = await caught(client({ accountId: 99 }).contactCount());
    expect(missing.type).toBe('not_found');
    expect(missing.message).toContain('account 99');
  });

  it('5xx is transient after the retries', async () => {
    sim.chatwoot.setFaults({ errorRate5xx: 1 });
    const cw = client({ retry: { transientRetries: 2, minBackoffMs: 1, maxBackoffMs: 5 } });
    const e = await caught(cw.findByIdentifier('pipedrive:org:1'));
    expect(e.type).toBe('transient');
    expect([500, 503]).toContain(e.status);
    expect(cw.counters.total).toBe(3);
  });

  it('a timeout and a refused connection are transient', async () => {
    sim.chatwoot.setFaults({ latencyMs: 300 });
    const slow = client({ timeoutMs: 50, retry: { transientRetries: 1, minBackoffMs: 1, maxBackoffMs: 5 } });
    const t = await caught(slow.contactCount());
    expect(t.type).toBe('transient');
    expect(slow.counters.total).toBe(2);
    sim.chatwoot.clearFaults();

    const srv = http.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const refused = client({
      baseUrl: `http://127.0.0.1:${port}/chatwoot`,
      retry: { transientRetries: 1, minBackoffMs: 1, maxBackoffMs: 5 },
    });
    const e = await caught(refused.contactCount());
    expect(e.type).toBe('transient');
    expect(e.message).toContain('ECONNREFUSED');
    expect(JSON.stringify(e.toJSON())).not.toContain(SIM_DEFAULTS.chatwootAdminToken);
  });
});

describe('answers the simulator never gives (a tiny real server)', () => {
  let srv: http.Server;
  let base = '';
  const seen: string[] = [];
  beforeAll(async () => {
    srv = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${String(req.headers.api_access_token)}`);
      if (req.url?.startsWith('/api/v1/accounts/2/contacts/1')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ payload: { id: 'not-a-number' } }));
        return;
      }
      res.statusCode = 429;
      res.setHeader('content-type', 'text/plain');
      res.setHeader('retry-after', '3');
      res.end('Retry later\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('honours a Retry-After header', async () => {
    const cw = client({ baseUrl: base, retry: { maxRateLimitWaitMs: 0 } });
    const e = await caught(cw.contactCount());
    expect(e).toMatchObject({ type: 'rate_limit', retryAfterMs: 3_000 });
  });

  it('a 2xx with an unexpected body is bad_data', async () => {
    const cw = client({ baseUrl: `${base}/` });
    const e = await caught(cw.getContact(1));
    expect(e).toMatchObject({ type: 'bad_data', status: 200 });
    expect(cw.counters.total).toBe(1);
    expect(seen.at(-1)).toBe(`GET /api/v1/accounts/2/contacts/1 ${SIM_DEFAULTS.chatwootAdminToken}`);
  });
});
