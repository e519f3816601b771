import type { Redis } from 'ioredis';
import { ChatwootClient } from '@pcs/chatwoot';
import { ConfigError, type Config } from '@pcs/config';
import { sharedPauseHooks, type ApiName, type PauseStore } from '@pcs/http';
import type { Logger } from '@pcs/logger';
import { PipedriveClient } from '@pcs/pipedrive';

export interface Apis {
  pipedrive: PipedriveClient;
  chatwoot: ChatwootClient;
}

/**
 * The two API clients of this process, with a 429 of either pausing that API for every worker
 * (through Redis; this worker alone while Redis is away). Created once per process: they keep
 * their connections alive.
 */
export function createApis(config: Config, redis: Redis, log: Logger): Apis {
  const { pipedrive: pd, chatwoot: cw } = config;
  if (!pd.apiKey || !cw.apiKey || !cw.baseUrl || cw.accountId === undefined) {
    throw new ConfigError(
      ['PIPEDRIVE_API_KEY', 'CHATWOOT_BASE_URL', 'CHATWOOT_API_KEY', 'CHATWOOT_ACCOUNT_ID'].map((variable) => ({
        variable,
        problem: 'needed by a worker that serves sync, cleanup or monitor',
      })),
    );
  }
  const store: PauseStore = {
    pttl: (key) => redis.pttl(key),
    setPx: (key, value, ms) => redis.set(key, value, 'PX', ms),
  };
  const hooks = (api: ApiName) => sharedPauseHooks(store, `${config.redis.prefix}:pause:${api}`, api, log);
  return {
    pipedrive: new PipedriveClient({ baseUrl: pd.baseUrl, apiKey: pd.apiKey, hooks: hooks('pipedrive') }),
    chatwoot: new ChatwootClient({
      baseUrl: cw.baseUrl,
      accountId: cw.accountId,
      apiKey: cw.apiKey,
      hooks: hooks('chatwoot'),
    }),
  };
}
