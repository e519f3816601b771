/**
 * Redaction of secrets in serialized log lines. Works on the final JSON text, so it catches a
 * secret wherever it hides: a message string, a URL, a nested axios error, a header object.
 */

export const REDACTED = '[REDACTED]';

const SENSITIVE_KEYS =
  'x-api-token|api_access_token|api-access-token|authorization|proxy-authorization|cookie|set-cookie|password|passwd|apikey|api_key|apiKey|token|api_token|access_token|secret|webhookUrl|webhook_url';

const PATTERNS: [RegExp, string][] = [
  // "key": "value" for sensitive keys, at any depth of the JSON line.
  [new RegExp(`("(?:${SENSITIVE_KEYS})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi'), `$1"${REDACTED}"`],
  // Query parameters carrying credentials (Google Chat webhook key/token, api_token=...).
  [
    /([?&](?:key|token|api_token|api_key|access_token|apikey|password|secret|sig|signature)=)[^&\s"'\\#]+/gi,
    `$1${REDACTED}`,
  ],
  // Credentials inside URLs: scheme://user:password@host
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s"'@]*:)[^@\s"'/]+@/gi, `$1${REDACTED}@`],
  // Authorization header values written as text.
  [/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{6,}/g, `$1 ${REDACTED}`],
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Builds a function that removes every known secret value and every credential-shaped string. */
export function createRedactor(secrets: readonly string[] = []): (line: string) => string {
  const values = [...new Set(secrets.filter((s) => s && s.length >= 4))]
    .flatMap((s) => [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)])
    .filter((s, i, all) => all.indexOf(s) === i)
    .sort((a, b) => b.length - a.length);
  const byValue = values.length ? new RegExp(values.map(escapeRegExp).join('|'), 'g') : undefined;
  return (line: string) => {
    let out = line;
    if (byValue) out = out.replace(byValue, REDACTED);
    for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
    return out;
  };
}
