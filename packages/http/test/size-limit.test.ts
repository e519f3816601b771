import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createAxios, DEFAULT_RETRY, MAX_RESPONSE_BYTES, withRetry } from '../src/index.js';
import { ChatwootClient } from '../../chatwoot/src/index.js';
import { PipedriveClient } from '../../pipedrive/src/index.js';
import { postToGoogleChat } from '../../notify/src/index.js';

const MARKER = 'SECRET-BODY-MARKER';

/** A JSON answer of about `bytes` bytes whose every row carries MARKER (it must never appear in an error). */
function bigJson(bytes: number): string {
  const row = JSON.stringify({ id: 1, name: MARKER.padEnd(200, 'x') });
  const rows = Math.ceil(bytes / (row.length + 1));
  return `{"success":true,"data":[${Array.from({ length: rows }, () => row).join(',')}]}`;
}

/**
 * A tiny real HTTP server: `/big/<bytes>` answers that much JSON, chunked (no Content-Length, so
 * the client must count while reading) or, with `?length`, with a Content-Length.
 */
describe('response size limit', () => {
  let server: Server;
  let base: string;
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      hits.push(`${req.method} ${req.url}`);
      req.resume();
      const url = new URL(req.url ?? '/', 'http://x');
      const bytes = Number(/\/big\/(\d+)/.exec(url.pathname)?.[1] ?? /big=(\d+)/.exec(url.search)?.[1] ?? 0);
      const body = bigJson(bytes);
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(url.searchParams.has('length') ? { 'content-length': Buffer.byteLength(body) } : {}),
      });
      // in chunks, as a real server streams a big page
      for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.slice(i, i + 64 * 1024));
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const fast = { ...DEFAULT_RETRY, minBackoffMs: 1, maxBackoffMs: 5 };

  it('reads a real-sized page, and stops an answer over the limit with a typed bad_data error naming the API, never the body', async () => {
    const http = createAxios(base, {}, 10_000, { api: 'pipedrive' });
    // a page of 500 organizations of ~3 KB each: read
    const ok = await http.get('/big/1500000');
    expect(ok.status).toBe(200);
    expect((ok.data as { data: unknown[] }).data.length).toBeGreaterThan(500);
    for (const query of ['', '?length']) {
      hits.length = 0;
      const err = await withRetry('pipedrive', fast, {}, () =>
        http.get(`/big/${MAX_RESPONSE_BYTES.pipedrive + 1024}${query}`),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ api: 'pipedrive', type: 'bad_data', kind: 'bad_data', reason: 'too_large' });
      expect((err as ApiError).retryable).toBe(false);
      expect((err as Error).message).toMatch(/^Pipedrive answered GET \/big\/\d+ with more than 8 MB/);
      expect(JSON.stringify(err)).not.toContain(MARKER);
      expect((err as Error).message).not.toContain(MARKER);
      // not retried: the same request would bring the same answer
      expect(hits).toHaveLength(1);
    }
  });

  it('a request body over the limit is not sent', async () => {
    hits.length = 0;
    const http = createAxios(base, {}, 10_000, { api: 'chatwoot' });
    const err = await http.post('/big/10', 'x'.repeat(2 * 1024 * 1024)).catch((e: unknown) => e);
    expect(err).toMatchObject({ api: 'chatwoot', type: 'bad_data', reason: 'too_large' });
    expect((err as Error).message).toMatch(
      /^Chatwoot POST \/big\/10 was not sent: its body of 2 MB is over the 1 MB limit/,
    );
    expect(hits).toHaveLength(0);
  });

  it('the Pipedrive and Chatwoot clients and the Google Chat delivery all answer it with the typed error', async () => {
    hits.length = 0;
    const pipedrive = new PipedriveClient({
      baseUrl: `${base}/big/${MAX_RESPONSE_BYTES.pipedrive + 1}`,
      apiKey: 'a-pipedrive-token-0123456789',
      retry: fast,
    });
    const pd = await pipedrive.listOrganizations().catch((e: unknown) => e);
    expect(pd).toMatchObject({ api: 'pipedrive', type: 'bad_data', reason: 'too_large' });
    expect((pd as Error).message).toMatch(/^Pipedrive answered GET \/big\/\d+\/api\/v2\/organizations with more than/);

    const chatwoot = new ChatwootClient({
      baseUrl: `${base}/big/${MAX_RESPONSE_BYTES.chatwoot + 1}`,
      accountId: 1,
      apiKey: 'a-chatwoot-token-0123456789',
      retry: fast,
    });
    const cw = await chatwoot.listContacts().catch((e: unknown) => e);
    expect(cw).toMatchObject({ api: 'chatwoot', type: 'bad_data', reason: 'too_large' });
    expect((cw as Error).message).toMatch(
      /^Chatwoot answered GET \/big\/\d+\/api\/v1\/accounts\/1\/contacts with more than 4 MB/,
    );

    const gchat = await postToGoogleChat(
      `${base}/v1/spaces/AAA/messages?key=the-key&token=the-token&big=${MAX_RESPONSE_BYTES.gchat + 1}`,
      {
        timestamp: '2024-01-15 10:30:00 UTC',
        script: 'monitor',
        level: 'INFO',
        error_type: 'test',
        message: 'size limit',
        details: {},
        fingerprint: 'size-limit',
        state: 'firing',
      },
    ).catch((e: unknown) => e);
    expect(gchat).toMatchObject({ api: 'gchat', type: 'bad_data', reason: 'too_large' });
    expect((gchat as Error).message).toMatch(
      /^Google Chat answered POST \/v1\/spaces\/AAA\/messages with more than 1 MB/,
    );
    // the webhook's credentials stay out of it
    expect(JSON.stringify(gchat)).not.toMatch(/the-key|the-token/);
    for (const e of [pd, cw, gchat]) expect(`${(e as Error).message} ${JSON.stringify(e)}`).not.toContain(MARKER);
    // one request each: none retried
    expect(hits).toHaveLength(3);
  });
});
