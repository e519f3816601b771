export { PipedriveClient, MAX_IDS, MAX_PAGE_SIZE, clampLimit, rfc3339 } from './client.js';
export { BurstPacer } from './pacer.js';
export type {
  PipedriveClientOptions,
  ListOrganizationsParams,
  ListPersonsParams,
  Page,
  RequestOptions,
} from './client.js';
export type { PdAddress, PdContactItem, PdField, PdFieldOption, PdOrganization, PdPerson, PdUser } from './schemas.js';
export { organizationSchema, personSchema, fieldSchema, parseApiDate } from './schemas.js';
export { resolveCustomerLabel, resolveFieldKey, customFieldText, primaryEmail, primaryPhone } from './fields.js';
export {
  errorFromResponse,
  errorFromException,
  retryAfterMs,
  apiErrorText,
  DEFAULT_RATE_LIMIT_WAIT_MS,
} from './errors.js';
export type { RequestContext, ResponseLike } from './errors.js';
