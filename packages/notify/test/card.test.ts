import { describe, expect, it } from 'vitest';
import { MAX_BYTES, MAX_TEXT, makeAlert, renderMessage } from '../src/index.js';

const base = makeAlert({
  script: 'sync',
  level: 'ERROR',
  error_type: 'auth issue',
  message: 'Pipedrive rejected the API token (401)',
  details: { api: 'Pipedrive', affected_count: 25, error_rate: '15.2%' },
  fingerprint: 'sync:auth:pipedrive',
});

describe('Google Chat card', () => {
  it('has the original header, a subtitle "<script> - <error_type>", the level emoji and every field', () => {
    const m = renderMessage(base);
    const card = m.cardsV2[0]!.card as {
      header: { title: string; subtitle: string };
      sections: { widgets: Record<string, { topLabel?: string; text: string }>[] }[];
    };
    expect(card.header).toEqual({ title: 'Pipedrive-Chatwoot Sync Alert', subtitle: 'sync - auth issue' });
    const texts = JSON.stringify(card.sections);
    for (const s of [
      '🚨 ERROR',
      base.timestamp,
      'Error type',
      'auth issue',
      'Pipedrive rejected the API token (401)',
      'affected_count: 25',
      'error_rate: 15.2%',
    ])
      expect(texts).toContain(s);
    expect(m.fallbackText).toBe('🚨 ERROR: Pipedrive rejected the API token (401)');
    expect(m.text).toContain('sync - auth issue');
    expect(base.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  });

  it('keeps upstream text inert in the text fallback: no mention, link, bold or code-block break-out', () => {
    const hostile = makeAlert({
      script: 'sync',
      level: 'ERROR',
      error_type: 'API failure',
      message: 'Chatwoot said: <users/all> *urgent* see <https://evil.example|here>',
      details: { api: 'Chatwoot', error: 'HTTP 422 ```\n<users/all> ~gone~ _now_' },
      fingerprint: 'sync:api:chatwoot',
    });
    const m = renderMessage(hostile);
    for (const t of [m.text, m.fallbackText]) {
      expect(t).not.toMatch(/<users\/all>|<https:/);
      expect(t).toContain('users/all'); // still readable
    }
    // Exactly the two fences the renderer wrote, and the only bold is the headline's own.
    expect(m.text.match(/```/g)).toHaveLength(2);
    expect(m.text.split('\n')[0]).toMatch(/^\*[^*]+\*$/);
    expect(m.text).not.toMatch(/~gone~|(^|\s)_now_/);
    // The card is HTML-escaped, so the mention is inert there too.
    expect(JSON.stringify(m.cardsV2)).not.toContain('<users/all>');
  });

  it('uses ⚠️ for warnings, ℹ️ for info and ✅ once resolved', () => {
    expect(renderMessage({ ...base, level: 'WARNING' }).fallbackText).toMatch(/^⚠️ WARNING/);
    expect(renderMessage({ ...base, level: 'INFO' }).fallbackText).toMatch(/^ℹ️ INFO/);
    expect(renderMessage({ ...base, state: 'resolved' }).fallbackText).toMatch(/^✅ RESOLVED/);
  });

  it('stays within Google Chat limits for a huge message and huge details', () => {
    const huge = renderMessage({
      ...base,
      message: 'x'.repeat(20_000),
      details: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'é'.repeat(200)])),
    });
    expect(huge.text.length).toBeLessThanOrEqual(MAX_TEXT);
    expect(Buffer.byteLength(JSON.stringify(huge), 'utf8')).toBeLessThanOrEqual(MAX_BYTES);
    expect(JSON.stringify(huge)).toContain('…');
  });

  it('escapes HTML in card text', () => {
    expect(JSON.stringify(renderMessage({ ...base, message: '<script>alert(1)</script>' }).cardsV2)).toContain(
      '&lt;script&gt;',
    );
  });
});
