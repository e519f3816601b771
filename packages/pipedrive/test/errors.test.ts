import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@pcs/http';
import type { RetryPolicy } from '@pcs/http';
import { createSimulator, SIM_DEFAULTS } from '@pcs/simulator';
import type { Simulator } from '@pcs/simulator';
import { PipedriveClient } from '../src/index.js';
import type { PdOrganization, PipedriveClientOptions } from '../src/index.js';

let sim: Simulator;

beforeAll(async () => {
  sim = createSimulator({ port: 0, seed: 11 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

const FAST: Partial<RetryPolicy> = { transientRetries: 2, minBackoffMs: 5, maxBackoffMs: 20 };

function client(extra: Partial<PipedriveClientOptions> = {}): PipedriveClient {
  return new PipedriveClient({
    baseUrl: sim.pipedriveBaseUrl,
    apiKey: SIM_DEFAULTS.pipedriveToken,
    retry: FAST,
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the call to fail');
}

function expectNoSecret(err: ApiError, secret: string): void {
  expect(err.message).not.toContain(secret);
  expect(JSON.stringify(err.toJSON())).not.toContain(secret);
  expect(err.path ?? '').not.toContain(secret);
  expect(err.path ?? '').not.toContain('?');
  expect(err.body ?? '').not.toContain(secret);
  expect(String((err.cause as Error | undefined)?.message ?? '')).not.toContain(secret);
}

describe('auth and abuse block', () => {
  it('a revoked token → auth after one request, no retries', async () => {
    sim.pipedrive.setFaults({ badToken: true });
    const pd = client();
    const err = await failure(pd.listOrganizations());
    expect(err.type).toBe('auth');
    expect(err.api).toBe('pipedrive');
    expect(err.status).toBe(401);
    expect(err.message).toBe('Pipedrive rejected the API token (401 unauthorized access)');
    expect(pd.counters.total).toBe(1);
    expect(sim.stats().byApi.pipedrive.requests).toBe(1);
    expectNoSecret(err, SIM_DEFAULTS.pipedriveToken);
  });

  it('a wrong token never appears in the error (message, toJSON, path, body)', async () => {
    const secret = 'pd-live-SECRET-0123456789abcdef';
    const pd = client({ apiKey: secret });
    for (const call of [
      pd.listOrganizations({ updatedSince: new Date() }),
      pd.getOrganization(1),
      pd.me(),
      pd.organizationFields(),
    ]) {
      const err = await failure(call);
      expect(err.type).toBe('auth');
      expectNoSecret(err, secret);
    }
    expect(pd.counters.total).toBe(4);
  });

  it('the token is sent only as a header, never in the query string', async () => {
    const seen: string[] = [];
    const server = await tinyServer((req, res) => {
      seen.push(`${req.url ?? ''} ${String(req.headers['x-api-token'])}`);
      json(res, 200, { success: true, data: [], additional_data: { next_cursor: null } });
    });
    try {
      const pd = new PipedriveClient({ baseUrl: server.url, apiKey: 'tok-ABC' });
      await pd.listOrganizations({
        updatedSince: new Date('2026-01-01T10:20:00.500Z'),
        ids: [1, 2, 3],
        limit: 9999,
        filterId: 4,
      });
      expect(seen).toHaveLength(1);
      const [url, tok] = (seen[0] as string).split(' ');
      expect(tok).toBe('tok-ABC');
      expect(url).not.toContain('tok-ABC');
      const q = new URL(url as string, 'http://x').searchParams;
      expect(q.get('updated_since')).toBe('2026-01-01T10:20:00Z');
      expect(q.get('ids')).toBe('1,2,3');
      expect(q.get('limit')).toBe('500');
      expect(q.get('filter_id')).toBe('4');
      expect(q.has('api_token')).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('HTML 403 (Cloudflare) → forbidden with the abuse message', async () => {
    sim.pipedrive.setFaults({ html403: { count: 1 } });
    const pd = client();
    const err = await failure(pd.listOrganizations());
    expect(err.type).toBe('forbidden');
    expect(err.status).toBe(403);
    expect(err.message).toMatch(/abuse protection/);
    expect(err.message).toMatch(/too many requests over the rate limit/);
    expect(pd.counters.total).toBe(1);
  });
});

describe('rate limits', () => {
  it('burst 429 ×3 → the listing waits and succeeds; counters show the extra requests', async () => {
    sim.pipedrive.seed({ orgs: 20, personsPerOrg: 0 });
    sim.pipedrive.setFaults({ burst429: { count: 3 } });
    const waits: number[] = [];
    const pd = client({ hooks: { onRateLimited: (ms) => void waits.push(ms) } });
    const started = Date.now();
    const page = await pd.listOrganizations();
    expect(page.items).toHaveLength(20);
    expect(pd.counters.total).toBe(4);
    expect(pd.counters.byRoute['GET /api/v2/organizations']).toBe(4);
    expect(sim.stats().byApi.pipedrive.byStatus['429']).toBe(3);
    expect(waits).toHaveLength(3);
    expect(waits.every((w) => w === 1000 || w === 2000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(waits.reduce((a, b) => a + b, 0) - 50);
  }, 15_000);

  it('a 429 asking longer than maxRateLimitWaitMs is thrown as rate_limit with retryAfterMs', async () => {
    sim.pipedrive.setFaults({ burst429: { count: 1 } });
    const pd = client({ retry: { ...FAST, maxRateLimitWaitMs: 500 } });
    const err = await failure(pd.listOrganizations());
    expect(err.type).toBe('rate_limit');
    expect([1000, 2000]).toContain(err.retryAfterMs);
    expect(err.message).not.toMatch(/daily/);
    expect(pd.counters.total).toBe(1);
  });

  it('the daily budget 429 is told apart', async () => {
    sim.pipedrive.setFaults({ daily429: true });
    const pd = client();
    const err = await failure(pd.me());
    expect(err.type).toBe('rate_limit');
    expect(err.message).toMatch(/daily budget exhausted/);
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(pd.counters.total).toBe(1);
  });
});

describe('transient failures', () => {
  it('errorRate5xx 1 → transient after transientRetries+1 attempts', async () => {
    sim.pipedrive.setFaults({ errorRate5xx: 1 });
    const pd = client();
    const err = await failure(pd.listPersons());
    expect(err.type).toBe('transient');
    expect([500, 503]).toContain(err.status);
    expect(pd.counters.total).toBe(3);
    expect(sim.stats().byApi.pipedrive.requests).toBe(3);
  });

  it('failAfterPages 2 → organizationPages throws transient after yielding 2 pages', async () => {
    sim.pipedrive.seed({ orgs: 1600, personsPerOrg: 0 });
    sim.pipedrive.setFaults({ failAfterPages: 2 });
    const pd = client();
    const seen: PdOrganization[][] = [];
    let caught: unknown;
    try {
      for await (const page of pd.organizationPages()) seen.push(page);
    } catch (err) {
      caught = err;
    }
    expect(seen).toHaveLength(2);
    expect(seen.flat()).toHaveLength(1000);
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).type).toBe('transient');
    expect(pd.counters.total).toBe(2 + 3);
  });

  it('latency above timeoutMs → transient (timeout)', async () => {
    sim.pipedrive.setFaults({ latencyMs: 400 });
    const pd = client({ timeoutMs: 100, retry: { transientRetries: 1, minBackoffMs: 5, maxBackoffMs: 10 } });
    const err = await failure(pd.getOrganization(1));
    expect(err.type).toBe('transient');
    expect(err.message).toMatch(/timed out after 100 ms/);
    expect(err.path).toBe('/api/v2/organizations/1');
    expect(pd.counters.total).toBe(2);
    expectNoSecret(err, SIM_DEFAULTS.pipedriveToken);
  });

  it('connection refused → transient', async () => {
    const server = await tinyServer((_req, res) => json(res, 200, {}));
    const url = server.url;
    await server.close();
    const pd = new PipedriveClient({
      baseUrl: url,
      apiKey: 'x',
      retry: { transientRetries: 1, minBackoffMs: 5, maxBackoffMs: 10 },
    });
    const err = await failure(pd.me());
    expect(err.type).toBe('transient');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(pd.counters.total).toBe(2);
  });
});

describe('unexpected answers', () => {
  let server: TinyServer;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  beforeAll(async () => {
    server = await tinyServer((req, res) => handler(req, res));
  });
  afterAll(async () => {
    await server.close();
  });
  const pd = (): PipedriveClient => new PipedriveClient({ baseUrl: server.url, apiKey: 'tok', retry: FAST });

  it('a 2xx that is not the JSON envelope → bad_data, no retry', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    };
    const c = pd();
    const err = await failure(c.listOrganizations());
    expect(err.type).toBe('bad_data');
    expect(c.counters.total).toBe(1);
    handler = (_req, res) => json(res, 200, { success: false, error: 'nope' });
    expect((await failure(c.me())).type).toBe('bad_data');
    handler = (_req, res) => json(res, 200, { success: true, data: { items: [] } });
    expect((await failure(c.listOrganizations())).type).toBe('bad_data');
  });

  it('a malformed item fails the page with bad_data naming it (nothing dropped silently)', async () => {
    handler = (_req, res) =>
      json(res, 200, {
        success: true,
        data: [
          { id: 1, name: 'ok', update_time: '2026-01-01T00:00:00Z' },
          { id: 2, name: 'bad', update_time: 'not a date' },
        ],
        additional_data: { next_cursor: null },
      });
    const err = await failure(pd().listOrganizations());
    expect(err.type).toBe('bad_data');
    expect(err.message).toContain('id 2');
    expect(err.message).toContain('update_time');
  });

  it('a full page without next_cursor is refused (could be a truncated listing)', async () => {
    handler = (_req, res) =>
      json(res, 200, { success: true, data: [{ id: 1, name: 'a', update_time: '2026-01-01T00:00:00Z' }] });
    expect((await failure(pd().listOrganizations({ limit: 1 }))).type).toBe('bad_data');
    const page = await pd().listOrganizations({ limit: 5 });
    expect(page).toMatchObject({ nextCursor: null, items: [{ id: 1 }] });
  });

  it('organizationFields follows offset paging in the flat additional_data form', async () => {
    const all = Array.from({ length: 7 }, (_, i) => ({
      id: i + 1,
      key: `k${i + 1}`,
      name: `F${i + 1}`,
      field_type: 'varchar',
      options: null,
    }));
    handler = (req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const start = Number(q.get('start') ?? 0);
      const data = all.slice(start, start + 3);
      const more = start + 3 < all.length;
      json(res, 200, {
        success: true,
        data,
        additional_data: {
          start,
          limit: 3,
          more_items_in_collection: more,
          ...(more ? { next_start: start + 3 } : {}),
        },
      });
    };
    const c = pd();
    const fields = await c.organizationFields();
    expect(fields.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(c.counters.byRoute['GET /v1/organizationFields']).toBe(3);
  });

  it('getOrganization: only a Pipedrive JSON 404 means null; a proxy or misrouted 404 is thrown', async () => {
    handler = (_req, res) =>
      json(res, 404, {
        success: false,
        error: 'Entity was not found',
        error_info: 'Object was not found.',
        data: null,
      });
    expect(await pd().getOrganization(3)).toBeNull();
    handler = (_req, res) => json(res, 404, { success: false, error: 'Unknown method .' });
    expect((await failure(pd().getOrganization(3))).type).toBe('not_found');
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html>404 Not Found</html>');
    };
    expect((await failure(pd().getOrganization(3))).type).toBe('not_found');
  });

  it('402 → forbidden; 400 → bad_data with the API text', async () => {
    handler = (_req, res) => json(res, 402, { success: false, error: 'Company account is not open' });
    const e402 = await failure(pd().me());
    expect(e402.type).toBe('forbidden');
    expect(e402.message).toMatch(/not open/);
    handler = (_req, res) => json(res, 400, { success: false, error: 'Validation failed: cursor' });
    const e400 = await failure(pd().listPersons());
    expect(e400.type).toBe('bad_data');
    expect(e400.message).toContain('Validation failed: cursor');
  });
});

interface TinyServer {
  url: string;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function tinyServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TinyServer> {
  const srv: Server = createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
}
