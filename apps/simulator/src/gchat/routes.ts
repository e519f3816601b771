import express from 'express';
import type { Request, Response, NextFunction, Router, ErrorRequestHandler } from 'express';
import { SIM_DEFAULTS } from '../defaults.js';
import { escapeHtml, firstQuery, isPlainObject, route, sleep } from '../util.js';
import type { GChatFailStatus, GChatMessage, GChatSim } from './state.js';

export const GCHAT_PREFIX = '/gchat';
const MAX_BYTES = 32_000;
const MAX_TEXT = 4096;

const STATUS_NAMES: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Invalid JSON payload received.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  500: ['INTERNAL', 'Internal error encountered.'],
  503: ['UNAVAILABLE', 'The service is currently unavailable.'],
};

export function googleError(code: number, message?: string, details?: unknown[]): { error: Record<string, unknown> } {
  const [status, dflt] = STATUS_NAMES[code] ?? ['UNKNOWN', 'Unknown error.'];
  return { error: { code, message: message ?? dflt, status, ...(details ? { details } : {}) } };
}

const KNOWN_FIELDS = new Set([
  'name',
  'sender',
  'createTime',
  'lastUpdateTime',
  'deleteTime',
  'text',
  'formattedText',
  'cards',
  'cardsV2',
  'annotations',
  'thread',
  'space',
  'fallbackText',
  'actionResponse',
  'argumentText',
  'slashCommand',
  'attachment',
  'matchedUrl',
  'threadReply',
  'clientAssignedMessageId',
  'emojiReactionSummaries',
  'privateMessageViewer',
  'deletionMetadata',
  'quotedMessageMetadata',
  'attachedGifs',
  'accessoryWidgets',
]);

function send(res: Response, code: number, message?: string, details?: unknown[]): void {
  res.status(code).json(googleError(code, message, details));
}

function countWidgets(card: Record<string, unknown>): number {
  const sections = Array.isArray(card.sections) ? card.sections : [];
  let n = 0;
  for (const s of sections) if (isPlainObject(s) && Array.isArray(s.widgets)) n += s.widgets.length;
  return n;
}

/** Returns an error message naming the field, or null when the payload is acceptable. */
function validate(body: Record<string, unknown>): string | null {
  for (const k of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(k)) return `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`;
  }
  if (body.text !== undefined && typeof body.text !== 'string')
    return `Invalid value at 'message.text' (TYPE_STRING), ${JSON.stringify(body.text)}`;
  if (body.cardsV2 !== undefined) {
    if (!Array.isArray(body.cardsV2))
      return `Invalid value at 'message.cards_v2' (type.googleapis.com/google.chat.v1.CardWithId), ${JSON.stringify(body.cardsV2).slice(0, 60)}`;
    for (const [i, item] of body.cardsV2.entries()) {
      if (!isPlainObject(item) || !isPlainObject(item.card))
        return `Invalid value at 'message.cards_v2[${i}].card': card is required.`;
      if (countWidgets(item.card) > 100)
        return `Invalid value at 'message.cards_v2[${i}].card.sections': a card can contain at most 100 widgets.`;
    }
    if (body.cardsV2.length > 1 && body.cardsV2.some((c) => isPlainObject(c) && !c.cardId))
      return "Invalid value at 'message.cards_v2': cardId is required when a message has more than one card.";
  }
  const text = typeof body.text === 'string' ? body.text : '';
  const hasCards = Array.isArray(body.cardsV2) && body.cardsV2.length > 0;
  if (text === '' && !hasCards && !(Array.isArray(body.cards) && body.cards.length > 0))
    return 'Message cannot be empty. Discarding empty message.';
  if ([...text].length > MAX_TEXT) return `Message is longer than ${MAX_TEXT} characters`;
  return null;
}

const esc = escapeHtml;

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: ' ' };

/** Entities decoded, as Chat shows a card's text (the sender escaped what is meant as text). */
function decodeEntities(s: string): string {
  return s.replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1]?.toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : (ENTITIES[e.toLowerCase()] ?? m),
  );
}

/** Card text as Chat renders it: the formatting tags Chat allows in cards, everything else as text. */
export function cardHtml(text: unknown): string {
  const t = String(text ?? '');
  const out: string[] = [];
  let last = 0;
  for (const m of t.matchAll(/<(\/?)(b|i|u|s|strike|br)\s*\/?>/gi)) {
    out.push(esc(decodeEntities(t.slice(last, m.index))), `<${m[1]}${m[2]!.toLowerCase()}>`);
    last = m.index + m[0].length;
  }
  out.push(esc(decodeEntities(t.slice(last))));
  return out.join('');
}

/** A text message as Chat renders its syntax: *bold*, _italic_, ~strike~, `code`, ```blocks```, <url|label> links. */
export function chatTextHtml(text: unknown): string {
  return String(text ?? '')
    .split('```')
    .map((part, i) => {
      if (i % 2 === 1) return `<pre>${esc(part.replace(/^\n/, ''))}</pre>`;
      return esc(part)
        .replace(/&#60;(https?:\/\/[^|\s]+?)\|(.+?)&#62;/g, '<a href="$1">$2</a>')
        .replace(/`([^`\n]+)`/g, '<code>$1</code>')
        .replace(/\*([^*\n]+)\*/g, '<b>$1</b>')
        .replace(/(^|\s)_([^_\n]+)_/g, '$1<i>$2</i>')
        .replace(/~([^~\n]+)~/g, '<s>$1</s>')
        .replace(/\n/g, '<br>');
    })
    .join('');
}

function renderPage(sim: GChatSim): string {
  const parts: string[] = [];
  for (const space of sim.spaceNames()) {
    const msgs = sim.messages(space);
    const byThread = new Map<string, GChatMessage[]>();
    for (const m of msgs) {
      let arr = byThread.get(m.thread);
      if (!arr) byThread.set(m.thread, (arr = []));
      arr.push(m);
    }
    parts.push(
      `<h2>${esc(sim.spaceDisplayName(space))} <small>spaces/${esc(space)} · ${msgs.length} message(s)</small></h2>`,
    );
    if (!msgs.length) parts.push('<p class="empty">No messages yet.</p>');
    for (const [thread, list] of [...byThread.entries()].reverse()) {
      const key = list[0]?.threadKey;
      parts.push(
        `<section class="thread"><div class="tname">${esc(thread)}${key ? ` · key <code>${esc(key)}</code>` : ''}</div>`,
      );
      for (const m of list) {
        parts.push(`<article><time>${esc(m.createTime)}</time>`);
        if (m.text) parts.push(`<div class="text">${chatTextHtml(m.text)}</div>`);
        for (const c of m.cardsV2) {
          const card = isPlainObject(c) && isPlainObject(c.card) ? c.card : {};
          const header = isPlainObject(card.header) ? card.header : {};
          parts.push(
            `<div class="card"><b>${esc(header.title)}</b>${header.subtitle ? `<div class="sub">${esc(header.subtitle)}</div>` : ''}`,
          );
          const sections = Array.isArray(card.sections) ? card.sections : [];
          for (const s of sections) {
            if (!isPlainObject(s)) continue;
            if (s.header) parts.push(`<div class="sh">${esc(s.header)}</div>`);
            for (const w of Array.isArray(s.widgets) ? s.widgets : []) {
              if (!isPlainObject(w)) continue;
              if (isPlainObject(w.decoratedText))
                parts.push(
                  `<div><span class="label">${esc(w.decoratedText.topLabel)}</span><br>${cardHtml(w.decoratedText.text)}</div>`,
                );
              else if (isPlainObject(w.textParagraph)) parts.push(`<div>${cardHtml(w.textParagraph.text)}</div>`);
            }
          }
          parts.push('</div>');
        }
        parts.push('</article>');
      }
      parts.push('</section>');
    }
  }
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Google Chat (simulated)</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;background:#f6f8fc}section.thread{background:#fff;border-radius:8px;padding:.8em 1em;margin:1em 0;box-shadow:0 1px 2px #0002}
.tname{color:#5f6368;font-size:.8em}article{border-top:1px solid #eee;padding:.5em 0}time{color:#999;font-size:.75em}pre{white-space:pre-wrap;margin:.3em 0}
.label{color:#5f6368;font-size:.75em}.text{margin:.3em 0}.card{border:1px solid #dadce0;border-radius:6px;padding:.5em;margin:.3em 0}.sub{color:#5f6368;font-size:.85em}.sh{font-weight:600;margin-top:.4em}</style></head>
<body><h1>Google Chat incoming webhooks (simulator)</h1>${parts.join('\n')}</body></html>`;
}

export function gchatRouter(sim: GChatSim): Router {
  const r = express.Router();
  const P = GCHAT_PREFIX;

  r.use(async (_req, _res, next) => {
    if (sim.faults.latencyMs > 0) await sleep(sim.faults.latencyMs);
    next();
  });

  route(r, P, 'get', '/', (_req, res) => {
    res.type('html').send(renderPage(sim));
  });

  route(
    r,
    P,
    'post',
    '/v1/spaces/:space/messages',
    express.raw({ type: () => true, limit: '2mb' }),
    (req: Request, res: Response) => {
      const fail: GChatFailStatus | null = sim.nextFailure();
      if (fail !== null) return send(res, fail);
      const key = firstQuery(req.query.key);
      if (key !== sim.key) {
        return send(res, 400, 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'chat.googleapis.com' },
          },
        ]);
      }
      const spaceName = String(req.params.space);
      const space = sim.space(spaceName);
      const token = firstQuery(req.query.token);
      if (!token || token !== (space?.token ?? SIM_DEFAULTS.gchatToken)) {
        return send(
          res,
          403,
          'The API is called without a valid token. Instructions on how to use incoming webhooks can be found at https://developers.google.com/chat/how-tos/webhooks',
        );
      }
      if (!space) return send(res, 404);
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (raw.length > MAX_BYTES)
        return send(res, 400, `Message payload exceeds the maximum size of ${MAX_BYTES} bytes.`);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return send(res, 400, 'Invalid JSON payload received. Unexpected token.');
      }
      if (!isPlainObject(body)) return send(res, 400, 'Invalid JSON payload received. Expected an object.');
      const invalid = validate(body);
      if (invalid) return send(res, 400, invalid);

      // threading
      const opt = firstQuery(req.query.messageReplyOption) ?? 'MESSAGE_REPLY_OPTION_UNSPECIFIED';
      const bodyThread = isPlainObject(body.thread) ? body.thread : {};
      const threadKey =
        firstQuery(req.query.threadKey) ??
        (typeof bodyThread.threadKey === 'string' ? bodyThread.threadKey : undefined);
      const threadName = typeof bodyThread.name === 'string' ? bodyThread.name : undefined;
      const replying = opt === 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD' || opt === 'REPLY_MESSAGE_OR_FAIL';
      if (opt !== 'MESSAGE_REPLY_OPTION_UNSPECIFIED' && !replying)
        return send(
          res,
          400,
          `Invalid value at 'message_reply_option' (type.googleapis.com/google.chat.v1.CreateMessageRequest.MessageReplyOption), "${opt}"`,
        );
      let thread = threadName ? space.threads.get(threadName) : undefined;
      if (!thread && replying && threadKey !== undefined) thread = sim.findThreadByKey(space, threadKey);
      if (!thread && opt === 'REPLY_MESSAGE_OR_FAIL' && (threadKey !== undefined || threadName !== undefined))
        return send(res, 404);
      if (!sim.takeQuota(space)) return send(res, 429);
      if (!thread) thread = sim.newThread(space, replying && threadKey !== undefined ? threadKey : null);
      const msg = sim.store(space, thread, body, threadKey ?? null);
      res.json({
        name: msg.name,
        sender: {
          name: 'users/114022495153014004089',
          displayName: 'Sim Webhook',
          avatarUrl: '',
          email: '',
          domainId: '',
          type: 'BOT',
          isAnonymous: false,
        },
        text: msg.text ?? '',
        formattedText: msg.text ?? '',
        cards: [],
        cardsV2: msg.cardsV2,
        annotations: [],
        thread: { name: thread.name, retentionSettings: { state: 'PERMANENT' } },
        space: {
          name: `spaces/${space.name}`,
          type: 'ROOM',
          spaceType: 'SPACE',
          displayName: space.displayName,
          spaceThreadingState: 'THREADED_MESSAGES',
        },
        argumentText: msg.text ?? '',
        fallbackText: msg.fallbackText ?? '',
        createTime: msg.createTime,
        retentionSettings: { state: 'PERMANENT' },
      });
    },
  );

  r.use((_req, res) => send(res, 404));
  const onError: ErrorRequestHandler = (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status === 413) return send(res, 400, `Message payload exceeds the maximum size of ${MAX_BYTES} bytes.`);
    if (status === 400) return send(res, 400);
    send(res, 500);
  };
  r.use(onError);
  return r;
}
