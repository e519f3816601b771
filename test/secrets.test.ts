import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../packages/config/src/index.js';
import { createLoggers } from '../packages/logger/src/index.js';

/**
 * docs/contract.md §3: secrets are never logged. A key pasted into .env with surrounding spaces is
 * used trimmed (that is what reaches the API and any error text echoing it) but written raw: the
 * redaction must know both forms.
 */
describe('a secret set with surrounding spaces', () => {
  it('never appears in a log line, trimmed or as written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-secrets-'));
    const raw = { PIPEDRIVE_API_KEY: '  pd-spaced-key-4711\t', CHATWOOT_API_KEY: ' cw-spaced-token-0815 ' };
    const config = parseConfig({ MYSQL_USER: 'root', LOG_DIR: dir, ...raw });
    expect(config.pipedrive.apiKey).toBe('pd-spaced-key-4711'); // used trimmed
    const loggers = await createLoggers(config, { console: false, channels: ['sync'] });
    const log = loggers.get('sync');
    // Free text, nested objects and URLs, the ways an upstream error carries a key.
    log.error(`Pipedrive refused token ${config.pipedrive.apiKey} for /v1/organizations`);
    log.warn({ upstream: { body: `invalid api_access_token${config.chatwoot.apiKey}` } }, 'chatwoot said no');
    log.info({ env: raw }, 'raw values as written in .env');
    await loggers.close();
    const folder = join(dir, 'sync');
    const text = readdirSync(folder)
      .map((f) => readFileSync(join(folder, f), 'utf8'))
      .join('');
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);
    for (const secret of ['pd-spaced-key-4711', 'cw-spaced-token-0815']) expect(text).not.toContain(secret);
    expect(text).toContain('[REDACTED]');
  });
});
