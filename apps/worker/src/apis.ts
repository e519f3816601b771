import { ChatwootClient } from '@pcs/chatwoot';
import type { Config } from '@pcs/config';
import type { Logger } from '@pcs/logger';
import { PipedriveClient } from '@pcs/pipedrive';
import { sharedPauseHooks } from '@pcs/sync';
import type { Redis } from 'ioredis';

export interface Apis {
  pipedrive: PipedriveClient;
  chatwoot: ChatwootClient;
}

/**
 * The two API clients of this process, with a 429 of either pausing that API for every worker
 * (through Redis). Created once per process: they keep their connections alive.
 */
export function createApis(config: Config, redis: Redis, log: Logger): Apis {
  const { pipedrive: pd, chatwoot: cw } = config;
  if (!pd.apiKey || !cw.apiKey || !cw.baseUrl || cw.accountId === undefined) {
    throw new Error(
      'Pipedrive and Chatwoot credentials are required (PIPEDRIVE_API_KEY, CHATWOOT_BASE_URL, CHATWOOT_API_KEY, CHATWOOT_ACCOUNT_ID)',
    );
  }
  return {
    pipedrive: new PipedriveClient({
      baseUrl: pd.baseUrl,
      apiKey: pd.apiKey,
      hooks: sharedPauseHooks(redis, config.redis.prefix, 'pipedrive', log),
    }),
    chatwoot: new ChatwootClient({
      baseUrl: cw.baseUrl,
      accountId: cw.accountId,
      apiKey: cw.apiKey,
      hooks: sharedPauseHooks(redis, config.redis.prefix, 'chatwoot', log),
    }),
  };
}
