import axios from 'axios';
import {
  ApiError,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  reportApiResponse,
  sizeLimitError,
  truncate,
} from '@pcs/http';
import type { Alert } from './alert.js';
import { renderMessage } from './card.js';

export interface DeliveryResult {
  status: number;
  messageName?: string;
  threadName?: string;
}

/**
 * Posts one alert to a Google Chat incoming webhook, in the thread of its fingerprint
 * (threadKey + REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD). 429, 5xx and network errors throw a
 * retryable ApiError; 400, 403 and 404 (bad card, revoked token or key, deleted space) do not.
 * The webhook URL carries its credentials: it never appears in an error.
 */
export async function postToGoogleChat(webhookUrl: string, alert: Alert, timeoutMs = 15_000): Promise<DeliveryResult> {
  const url = new URL(webhookUrl);
  url.searchParams.set('threadKey', alert.fingerprint.slice(0, 4000));
  url.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
  const path = url.pathname;
  let res;
  try {
    res = await axios.post(url.toString(), renderMessage(alert), {
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      timeout: timeoutMs,
      validateStatus: () => true,
      maxRedirects: 0,
      maxContentLength: MAX_RESPONSE_BYTES.gchat,
      maxBodyLength: MAX_REQUEST_BYTES,
    });
  } catch (err) {
    reportApiResponse('gchat', 'error');
    // An answer over the size limit (never read, never retried: the message may well be posted).
    const tooLarge = sizeLimitError('gchat', err);
    if (tooLarge) throw tooLarge;
    const code = (err as { code?: string }).code;
    throw new ApiError({
      api: 'gchat',
      type: 'transient',
      message: `Google Chat unreachable: ${code ?? (err as Error).message}`,
      path,
      method: 'POST',
    });
  }
  // Counted as pcs_api_requests_total{api="google_chat"} by the worker (docs/contract.md §4).
  reportApiResponse('gchat', res.status);
  const body = typeof res.data === 'string' ? res.data : JSON.stringify(res.data ?? '');
  const googleMessage = (res.data as { error?: { message?: string; status?: string } } | undefined)?.error;
  const detail = googleMessage
    ? `${googleMessage.status ?? ''} ${googleMessage.message ?? ''}`.trim()
    : truncate(body, 200);
  if (res.status >= 200 && res.status < 300) {
    const data = res.data as { name?: string; thread?: { name?: string } };
    return { status: res.status, messageName: data?.name, threadName: data?.thread?.name };
  }
  if (res.status === 429)
    throw new ApiError({
      api: 'gchat',
      type: 'rate_limit',
      status: 429,
      path,
      method: 'POST',
      message: `Google Chat quota exceeded (429): ${detail}`,
    });
  if (res.status >= 500 || res.status === 408)
    throw new ApiError({
      api: 'gchat',
      type: 'transient',
      status: res.status,
      path,
      method: 'POST',
      message: `Google Chat answered ${res.status}: ${detail}`,
    });
  const type = res.status === 403 || res.status === 401 ? 'auth' : res.status === 404 ? 'not_found' : 'bad_data';
  const hint =
    res.status === 403
      ? ' (the webhook token is wrong or revoked: create a new webhook and update SUPPORT_GOOGLE_CHAT)'
      : res.status === 404
        ? ' (the space or webhook no longer exists)'
        : res.status === 400
          ? ' (a bad key, or a message Google Chat refused)'
          : '';
  throw new ApiError({
    api: 'gchat',
    type,
    status: res.status,
    path,
    method: 'POST',
    message: `Google Chat refused the alert with ${res.status}: ${detail}${hint}`,
  });
}
