import type { AxiosInstance } from 'axios';
import { ApiError, createAxios, truncate, type ErrorType } from '@pcs/http';
import type { Alert } from './alert.js';

/** The body a generic receiver gets: exactly the alert JSON of docs/contract.md §6, in its key order. */
export function webhookBody(alert: Alert): Alert {
  return {
    timestamp: alert.timestamp,
    script: alert.script,
    level: alert.level,
    error_type: alert.error_type,
    message: alert.message,
    details: alert.details ?? {},
    fingerprint: alert.fingerprint,
    state: alert.state,
  };
}

/**
 * The generic alert receiver (ALERT_WEBHOOK_URL, docs/contract.md §3): every alert is POSTed as
 * the §6 JSON with `Content-Type: application/json` (n8n, an incident tool, a relay of your own).
 * Any 2xx is delivered. 429, 408, 5xx and network errors throw a retryable ApiError (the queue
 * retries them like Google Chat's, §6a); 401/403 (auth), 404 (not_found) and every other answer
 * do not. The URL may carry a token (in its path, credentials or query): no part of it appears in
 * an error.
 */
export class WebhookChannel {
  private readonly http: AxiosInstance;
  /** The URL's parts that may be its token, longest first: removed from any answer we quote. */
  private readonly secretParts: string[];

  constructor(
    private readonly url: string,
    timeoutMs = 15_000,
  ) {
    this.http = createAxios('', { 'content-type': 'application/json' }, timeoutMs, { api: 'webhook' });
    const u = new URL(url);
    const parts = [url, `${u.pathname}${u.search}`, u.search.slice(1), u.password, u.username];
    for (const [, v] of u.searchParams) parts.push(v, encodeURIComponent(v));
    for (const seg of u.pathname.split('/')) if (seg.length >= 16) parts.push(seg);
    this.secretParts = [...new Set(parts.filter((p) => p.length >= 4))].sort((a, b) => b.length - a.length);
  }

  /** A receiver's answer may echo the address it was asked (error pages do): never its token. */
  private scrub(text: string): string {
    return this.secretParts.reduce((t, part) => t.split(part).join('[REDACTED]'), text);
  }

  async send(alert: Alert): Promise<{ status: number }> {
    const fail = (type: ErrorType, message: string, status?: number) =>
      new ApiError({ api: 'webhook', type, status, method: 'POST', message });
    let res;
    try {
      res = await this.http.post(this.url, JSON.stringify(webhookBody(alert)));
    } catch (err) {
      // An answer over the size limit is already typed (bad_data, not retried: it may well be delivered).
      if (err instanceof ApiError) throw err;
      const code = (err as { code?: string }).code;
      // The axios error's config holds the URL: only its code goes on.
      throw fail('transient', `The alert webhook (ALERT_WEBHOOK_URL) is unreachable: ${code ?? 'network error'}`);
    }
    const status = res.status;
    if (status >= 200 && status < 300) return { status };
    const body = typeof res.data === 'string' ? res.data : JSON.stringify(res.data ?? '');
    const detail = body ? `: ${truncate(this.scrub(body.replace(/\s+/g, ' ').trim()), 200)}` : '';
    if (status === 429) throw fail('rate_limit', `The alert webhook answered 429 (too many requests)${detail}`, status);
    if (status >= 500 || status === 408)
      throw fail('transient', `The alert webhook answered ${status}${detail}`, status);
    const type: ErrorType = status === 401 || status === 403 ? 'auth' : status === 404 ? 'not_found' : 'bad_data';
    const hint =
      type === 'auth'
        ? ' (the receiver refused our credentials: check the token in ALERT_WEBHOOK_URL)'
        : type === 'not_found'
          ? ' (no receiver at that address: check ALERT_WEBHOOK_URL)'
          : status >= 300 && status < 400
            ? ' (a redirect, which is not followed: set ALERT_WEBHOOK_URL to the final address)'
            : '';
    throw fail(type, `The alert webhook refused the alert with ${status}${detail}${hint}`, status);
  }
}
