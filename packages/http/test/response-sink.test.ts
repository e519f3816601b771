import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAxios, setApiResponseSink, type ApiName } from '../src/index.js';
import { PipedriveClient } from '../../pipedrive/src/index.js';
import { makeAlert, postToGoogleChat } from '../../notify/src/index.js';
import { freePort } from '../../../apps/demo/src/settings.js';

/**
 * The process-wide sink of every API answer (pcs_api_requests_total, docs/contract.md §4): a real
 * HTTP server answers; the sink hears each attempt's status, or `error` when none came.
 */
describe('API response sink', () => {
  let server: Server;
  let base: string;
  const heard: [ApiName, number | 'error'][] = [];
  let pipedrive429 = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/api/v2/organizations') && pipedrive429 > 0) {
        pipedrive429 -= 1;
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' }).end('{"success":false}');
        return;
      }
      if (req.url?.startsWith('/api/v2/organizations')) {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"success":true,"data":[],"additional_data":{"next_cursor":null}}');
        return;
      }
      if (req.url?.startsWith('/chat')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"spaces/x/messages/y"}');
        return;
      }
      res.writeHead(503).end('busy');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    setApiResponseSink(undefined);
    heard.length = 0;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  const listen = () => setApiResponseSink((api, status) => heard.push([api, status]));

  it('hears every attempt of a client: the 429 and the 200 after it', async () => {
    listen();
    pipedrive429 = 1;
    const client = new PipedriveClient({ baseUrl: base, apiKey: 'test-token-123456' });
    await client.listOrganizations({ limit: 10 }).catch(() => undefined);
    expect(heard).toEqual([
      ['pipedrive', 429],
      ['pipedrive', 200],
    ]);
  });

  it('hears a status the caller treats as an error, a request that got no answer, and Google Chat', async () => {
    listen();
    const http = createAxios(base, {}, 2_000, { api: 'chatwoot' });
    expect((await http.get('/other')).status).toBe(503);
    const closed = createAxios(`http://127.0.0.1:${await freePort()}`, {}, 2_000, { api: 'chatwoot' });
    await expect(closed.get('/x')).rejects.toThrow();
    const alert = makeAlert({ script: 'sync', level: 'INFO', error_type: 'test', message: 'hello', fingerprint: 'f' });
    await postToGoogleChat(`${base}/chat?key=k&token=t`, alert);
    await expect(postToGoogleChat(`http://127.0.0.1:${await freePort()}/chat`, alert)).rejects.toThrow();
    expect(heard).toEqual([
      ['chatwoot', 503],
      ['chatwoot', 'error'],
      ['gchat', 200],
      ['gchat', 'error'],
    ]);
  });

  it('a sink that throws never fails a request', async () => {
    setApiResponseSink(() => {
      throw new Error('counting is broken');
    });
    const http = createAxios(base, {}, 2_000, { api: 'pipedrive' });
    expect((await http.get('/api/v2/organizations')).status).toBe(200);
  });
});
