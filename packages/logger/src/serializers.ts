/**
 * An error serializer that keeps what an operator needs and nothing that leaks: an axios error
 * would otherwise drag its whole request (headers with tokens, sockets) into the log line.
 */

interface AxiosLikeError extends Error {
  isAxiosError?: boolean;
  code?: string;
  config?: { method?: string; url?: string; baseURL?: string };
  response?: { status?: number; data?: unknown };
}

function truncate(s: string, max = 500): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as AxiosLikeError & { type?: string; retryable?: boolean; status?: number; cause?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: e.message };
  if (e.code) out.code = e.code;
  if (typeof e.type === 'string') out.errorType = e.type;
  if (typeof e.retryable === 'boolean') out.retryable = e.retryable;
  if (typeof e.status === 'number') out.status = e.status;
  if (e.isAxiosError) {
    const url = e.config?.url
      ? e.config.baseURL && !/^https?:/.test(e.config.url)
        ? e.config.baseURL + e.config.url
        : e.config.url
      : undefined;
    out.request = { method: e.config?.method?.toUpperCase(), url };
    if (e.response) {
      out.status = e.response.status;
      const data = e.response.data;
      out.responseBody = truncate(typeof data === 'string' ? data : JSON.stringify(data ?? null));
    }
  } else if (e.stack) {
    out.stack = e.stack;
  }
  if (e.cause !== undefined && e.cause !== err) out.cause = serializeError(e.cause);
  return out;
}
