import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, SIM_DEFAULTS } from '../src/index.js';
import type { Simulator } from '../src/index.js';

let sim: Simulator;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function post(url: string, body: unknown, raw = false) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: json, res };
}

const card = (widgets: number) => ({
  cardId: 'r',
  card: {
    header: { title: 'Sync failed', subtitle: 'run 1' },
    sections: [{ widgets: Array.from({ length: widgets }, (_, i) => ({ textParagraph: { text: `w${i}` } })) }],
  },
});

beforeAll(async () => {
  sim = createSimulator({ seed: 5 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

describe('google chat webhook', () => {
  it('valid post → 200 Message resource, stored', async () => {
    const r = await post(sim.gchatWebhookUrl(), { text: '*Sync failed*', fallbackText: 'failed', cardsV2: [card(3)] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      name: expect.stringMatching(/^spaces\/AAAA-sim\/messages\/.+/),
      sender: { type: 'BOT' },
      text: '*Sync failed*',
      fallbackText: 'failed',
      cardsV2: [card(3)],
      thread: { name: expect.stringMatching(/^spaces\/AAAA-sim\/threads\/.+/) },
      space: { name: 'spaces/AAAA-sim', type: 'ROOM', spaceThreadingState: 'THREADED_MESSAGES' },
    });
    expect(Number.isNaN(Date.parse(r.body.createTime))).toBe(false);
    expect(sim.gchat.messages()).toHaveLength(1);
    expect(sim.gchat.messages('AAAA-sim')[0]?.thread).toBe(r.body.thread.name);
    const page = await fetch(`${sim.url}/gchat/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('Sync failed');
  });

  it('the space page renders a message the way Chat does: text syntax and card tags, escaped text stays text', async () => {
    await post(sim.gchatWebhookUrl(), {
      text: '*🚨 ERROR: sync failed*\nsync - API failure\n```\nerror: *not bold* ‹users/all›\n```',
      cardsV2: [
        {
          cardId: 'alert',
          card: {
            header: { title: 'Pipedrive-Chatwoot Sync Alert', subtitle: 'sync - API failure' },
            sections: [
              {
                widgets: [
                  { decoratedText: { topLabel: 'Level', text: '🚨 ERROR' } },
                  { textParagraph: { text: '<b>Message</b><br>Chatwoot said &lt;users/all&gt; &amp; more' } },
                ],
              },
            ],
          },
        },
      ],
    });
    const html = await (await fetch(`${sim.url}/gchat/`)).text();
    expect(html).toContain('<b>🚨 ERROR: sync failed</b><br>sync - API failure<br><pre>error: *not bold*');
    expect(html).toContain('<b>Message</b><br>Chatwoot said &#60;users/all&#62; &#38; more');
    expect(html).not.toMatch(/&lt;b&gt;|&#60;b&#62;|&amp;lt;/);
  });

  it('threads: without messageReplyOption every message starts a new thread; with it the key replies', async () => {
    const url = sim.gchatWebhookUrl();
    const a = await post(`${url}&threadKey=run-1`, { text: 'a' });
    const b = await post(`${url}&threadKey=run-1`, { text: 'b' });
    expect(a.body.thread.name).not.toBe(b.body.thread.name);
    const opt = 'messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD';
    const c = await post(`${url}&threadKey=run-2&${opt}`, { text: 'c' });
    const d = await post(`${url}&${opt}`, { text: 'd', thread: { threadKey: 'run-2' } });
    expect(d.body.thread.name).toBe(c.body.thread.name);
    const e = await post(url, { text: 'e', thread: { name: c.body.thread.name } });
    expect(e.body.thread.name).toBe(c.body.thread.name);
    const fail = await post(`${url}&threadKey=unknown&messageReplyOption=REPLY_MESSAGE_OR_FAIL`, { text: 'f' });
    expect(fail.status).toBe(404);
    const orFail = await post(`${url}&threadKey=run-2&messageReplyOption=REPLY_MESSAGE_OR_FAIL`, { text: 'g' });
    expect(orFail.body.thread.name).toBe(c.body.thread.name);
    const threads = sim.gchat.threads();
    expect(threads.find((t) => t.name === c.body.thread.name)?.messageCount).toBe(4);
    expect(sim.gchat.messages().find((m) => m.text === 'd')?.threadKey).toBe('run-2');
  });

  it('61st post in a minute → 429 RESOURCE_EXHAUSTED without Retry-After', async () => {
    const url = sim.gchatWebhookUrl();
    for (let i = 0; i < 60; i++) expect((await post(url, { text: `m${i}` })).status).toBe(200);
    const r = await post(url, { text: 'one too many' });
    expect(r.status).toBe(429);
    expect(r.body).toEqual({
      error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' },
    });
    expect(r.res.headers.get('retry-after')).toBeNull();
    // quota is per space
    sim.gchat.addSpace('BBBB-other');
    expect((await post(sim.gchatWebhookUrl('BBBB-other'), { text: 'x' })).status).toBe(200);
  });

  it('text > 4096 chars → 400; body > 32,000 bytes → 400; cards validated', async () => {
    const url = sim.gchatWebhookUrl();
    const long = await post(url, { text: 'x'.repeat(4097) });
    expect(long.status).toBe(400);
    expect(long.body).toEqual({
      error: { code: 400, message: 'Message is longer than 4096 characters', status: 'INVALID_ARGUMENT' },
    });
    expect((await post(url, { text: 'x'.repeat(4096) })).status).toBe(200);
    const big = await post(url, {
      text: 'ok',
      cardsV2: [{ cardId: 'a', card: { sections: [{ widgets: [{ textParagraph: { text: 'y'.repeat(33_000) } }] }] } }],
    });
    expect(big.status).toBe(400);
    expect(big.body.error.status).toBe('INVALID_ARGUMENT');
    const notArray = await post(url, { cardsV2: { card: {} } });
    expect(notArray.status).toBe(400);
    expect(notArray.body.error.message).toContain('cards_v2');
    const noCard = await post(url, { cardsV2: [{ cardId: 'x' }] });
    expect(noCard.body.error.message).toContain('cards_v2[0].card');
    const tooMany = await post(url, { cardsV2: [card(101)] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('widgets');
    expect((await post(url, {})).status).toBe(400);
    expect((await post(url, '[1,2]', true)).status).toBe(400);
    expect((await post(url, 'not json', true)).status).toBe(400);
  });

  it('bad key → 400 API_KEY_INVALID; bad token → 403; unknown space → 404', async () => {
    const base = `${sim.url}/gchat/v1/spaces/AAAA-sim/messages`;
    const badKey = await post(`${base}?key=nope&token=${SIM_DEFAULTS.gchatToken}`, { text: 'x' });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [{ reason: 'API_KEY_INVALID' }],
    });
    const noKey = await post(`${base}?token=${SIM_DEFAULTS.gchatToken}`, { text: 'x' });
    expect(noKey.status).toBe(400);
    const badToken = await post(`${base}?key=${SIM_DEFAULTS.gchatKey}&token=nope`, { text: 'x' });
    expect(badToken.status).toBe(403);
    expect(badToken.body.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
    expect(badToken.body.error.message).toMatch(/^The API is called without a valid token/);
    const unknown = await post(sim.gchatWebhookUrl('ZZZZ'), { text: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
  });

  it('fail queue: 503 then success', async () => {
    sim.gchat.setFaults({
      fail: [
        { status: 503, count: 2 },
        { status: 429, count: 1 },
      ],
    });
    const url = sim.gchatWebhookUrl();
    const s: number[] = [];
    for (let i = 0; i < 4; i++) s.push((await post(url, { text: 'x' })).status);
    expect(s).toEqual([503, 503, 429, 200]);
    expect(sim.gchat.messages()).toHaveLength(1);
  });
});
