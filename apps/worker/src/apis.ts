import type { RedisClient } from '@pcs/queues';
import { ChatwootClient } from '@pcs/chatwoot';
import { ConfigError, type Config } from '@pcs/config';
import { setApiResponseSink, sharedPauseHooks, type ApiName, type PauseStore } from '@pcs/http';
import type { Logger } from '@pcs/logger';
import { PipedriveClient } from '@pcs/pipedrive';
import type { MetricsRecorder } from '@pcs/queues';

export interface Apis {
  pipedrive: PipedriveClient;
  chatwoot: ChatwootClient;
}

/**
 * The two API clients of this process, with a 429 of either pausing that API for every worker
 * (through Redis; this worker alone while Redis is away). Created once per process: they keep
 * their connections alive.
 */
export function createApis(config: Config, redis: RedisClient, log: Logger): Apis {
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

/** The `api` label of pcs_api_requests_total (docs/contract.md §4) of each counted API. */
const API_LABEL: Partial<Record<ApiName, string>> = {
  pipedrive: 'pipedrive',
  chatwoot: 'chatwoot',
  gchat: 'google_chat',
};

/**
 * Counts every answer of Pipedrive, Chatwoot and Google Chat in this process (its status, or
 * `error` when none came) for pcs_api_requests_total. Returns what stops counting.
 */
export function countApiResponses(metrics: MetricsRecorder): () => void {
  const sink = (api: ApiName, status: number | 'error') => {
    const label = API_LABEL[api];
    if (label) metrics.apiResponse(label, status);
  };
  const previous = setApiResponseSink(sink);
  return () => {
    const current = setApiResponseSink(previous);
    // Another sink set since (a second worker in this process) stays.
    if (current !== sink) setApiResponseSink(current);
  };
}
