/** Credentials and ids the simulator accepts out of the box. */
export const SIM_DEFAULTS = {
  pipedriveToken: 'pd-test-token',
  /** Option id of the "Customer" org label. Deliberately NOT 5 (the old deployment hard-coded 5). */
  pipedriveCustomerLabelId: 17,
  pipedriveCompanyId: 7001,
  pipedriveCompanyDomain: 'sim',
  pipedriveUserId: 1,
  chatwootAccountId: 2,
  /** An account that exists but that neither default token is a member of. */
  chatwootOtherAccountId: 3,
  chatwootAdminToken: 'cw-admin-token',
  chatwootAgentToken: 'cw-agent-token',
  gchatKey: 'sim-key',
  gchatToken: 'sim-token',
  gchatSpace: 'AAAA-sim',
  port: 4010,
  host: '127.0.0.1',
  seed: 42,
} as const;

/** Stable 40-char keys of the simulated Pipedrive organization custom fields. */
export const PD_FIELD_KEYS = {
  /** enum "Customer Type": options 190 Private person, 191 Company, 192 Government. */
  customerType: '9dc80c50d78a15643bfc4ca79d76156a73a1ca0e',
  /** phone "Main phone". */
  mainPhone: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
  /** varchar "Support portal". */
  supportPortal: 'f00dbabe0123456789abcdef0123456789abcdef',
} as const;

export const PD_CUSTOMER_TYPE_OPTIONS = [
  { id: 190, label: 'Private person' },
  { id: 191, label: 'Company' },
  { id: 192, label: 'Government' },
] as const;

/** Other label option ids (Customer is configurable, see SIM_DEFAULTS.pipedriveCustomerLabelId). */
export const PD_LABEL_IDS = { hotLead: 18, warmLead: 19, coldLead: 20 } as const;
