import type { Alert } from './alert.js';

/**
 * The Google Chat message of an alert: a cardsV2 card with a text fallback, in the original
 * deployment's terms (header "Pipedrive-Chatwoot Sync Alert", subtitle "<script> - <error_type>"),
 * within Google Chat's limits (text ≤ 4,000 characters, the whole message ≤ 32,000 bytes).
 */

export const EMOJI = { ERROR: '🚨', WARNING: '⚠️', INFO: 'ℹ️', resolved: '✅' } as const;
export const MAX_TEXT = 4_000;
export const MAX_BYTES = 32_000;

export function emojiOf(alert: Pick<Alert, 'level' | 'state'>): string {
  return alert.state === 'resolved' ? EMOJI.resolved : EMOJI[alert.level];
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Makes untrusted text (alert messages, upstream error text) inert in Chat's text syntax: `<…>` would
 * be a link or a mention (`<users/all>` pings everyone), a backtick could close the code block, and
 * `*`, `~`, a word-initial `_` would start bold, strike or italic. Chat syntax has no escape
 * character, so they become look-alike characters that Chat does not parse.
 */
export function escapeChatText(s: string): string {
  return s
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/`/g, 'ˋ')
    .replace(/\*/g, '∗')
    .replace(/~/g, '∼')
    .replace(/(^|[\s(])_/g, '$1＿');
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface ChatMessage {
  text: string;
  fallbackText: string;
  cardsV2: { cardId: string; card: Record<string, unknown> }[];
}

function build(alert: Alert, messageMax: number, detailsMax: number): ChatMessage {
  const emoji = emojiOf(alert);
  const status = alert.state === 'resolved' ? 'RESOLVED' : alert.level;
  // The alert JSON says "Resolved: …" for log readers; the card's status already says it.
  const headline = `${emoji} ${status}: ${alert.state === 'resolved' ? alert.message.replace(/^Resolved: /, '') : alert.message}`;
  const details = Object.entries(alert.details ?? {}).map(
    ([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  const detailText = cut(details.join('\n'), detailsMax);
  const widgets: Record<string, unknown>[] = [
    { decoratedText: { topLabel: 'Level', text: `${emoji} ${escapeHtml(status)}` } },
    { decoratedText: { topLabel: 'Timestamp', text: escapeHtml(alert.timestamp) } },
    { decoratedText: { topLabel: 'Script', text: escapeHtml(alert.script) } },
    { decoratedText: { topLabel: 'Error type', text: escapeHtml(alert.error_type) } },
    {
      textParagraph: { text: `<b>Message</b><br>${escapeHtml(cut(alert.message, messageMax)).replace(/\n/g, '<br>')}` },
    },
  ];
  if (detailText)
    widgets.push({ textParagraph: { text: `<b>Details</b><br>${escapeHtml(detailText).replace(/\n/g, '<br>')}` } });
  const text = cut(
    [
      `*${escapeChatText(headline.split('\n')[0]!)}*`,
      escapeChatText(`${alert.script} - ${alert.error_type} · ${alert.timestamp}`),
      ...(detailText ? ['```', escapeChatText(detailText), '```'] : []),
    ].join('\n'),
    MAX_TEXT,
  );
  return {
    text,
    fallbackText: cut(escapeChatText(headline), 300),
    cardsV2: [
      {
        cardId: 'alert',
        card: {
          header: {
            title: 'Pipedrive-Chatwoot Sync Alert',
            subtitle: cut(`${alert.script} - ${alert.error_type}`, 200),
          },
          sections: [{ widgets }],
        },
      },
    ],
  };
}

/** The message, shortened until it fits Google Chat's size limits. */
export function renderMessage(alert: Alert): ChatMessage {
  let messageMax = 3_000;
  let detailsMax = 3_000;
  for (;;) {
    const msg = build(alert, messageMax, detailsMax);
    if (Buffer.byteLength(JSON.stringify(msg), 'utf8') <= MAX_BYTES - 500 || (messageMax <= 200 && detailsMax <= 200))
      return msg;
    messageMax = Math.max(200, Math.floor(messageMax / 2));
    detailsMax = Math.max(200, Math.floor(detailsMax / 2));
  }
}
