export { ChatwootClient, CHATWOOT_PAGE_SIZE, toE164ForFilter } from './client.js';
export type {
  AttributeDefinition,
  AttributeDefinitionInput,
  ChatwootClientOptions,
  ChatwootCounters,
  ContactInput,
  FilterCondition,
  FilterOperator,
} from './client.js';
export type { CwContact } from './schemas.js';
export { isOnlineConflict, msUntilNextMinute, parseRetryAfter } from './errors.js';
