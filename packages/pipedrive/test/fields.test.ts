import { describe, expect, it } from 'vitest';
import { ApiError } from '@pcs/http';
import {
  clampLimit,
  customFieldText,
  errorFromResponse,
  fieldSchema,
  organizationSchema,
  personSchema,
  primaryEmail,
  primaryPhone,
  resolveCustomerLabel,
  resolveFieldKey,
  retryAfterMs,
  rfc3339,
} from '../src/index.js';
import type { PdField, PdOrganization, PdPerson, RequestContext } from '../src/index.js';

const HEX = '9dc80c50d78a15643bfc4ca79d76156a73a1ca0e';
const labelOptions = [
  { id: 17, label: 'Customer' },
  { id: 18, label: 'Hot lead' },
];
const fields: PdField[] = [
  { id: 1, key: 'name', name: 'Name', fieldType: 'varchar', options: [], isCustom: false },
  { id: 2, key: 'label', name: 'Label', fieldType: 'enum', options: labelOptions, isCustom: false },
  { id: 3, key: 'label_ids', name: 'Labels', fieldType: 'set', options: labelOptions, isCustom: false },
  {
    id: 4001,
    key: HEX,
    name: 'Customer Type',
    fieldType: 'enum',
    options: [{ id: 190, label: 'Private person' }],
    isCustom: true,
  },
  {
    id: 4002,
    key: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
    name: 'Main phone',
    fieldType: 'phone',
    options: [],
    isCustom: true,
  },
];

function catchErr(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('resolveCustomerLabel', () => {
  it('finds the option by name, case-insensitive and trimmed, preferring label_ids', () => {
    expect(resolveCustomerLabel(fields, 'Customer')).toBe(17);
    expect(resolveCustomerLabel(fields, '  cUsToMeR ')).toBe(17);
    const onlyLegacy = fields
      .filter((f) => f.key !== 'label_ids')
      .map((f) => (f.key === 'label' ? { ...f, options: [{ id: 23, label: 'Customer' }] } : f));
    expect(resolveCustomerLabel(onlyLegacy, 'customer')).toBe(23);
    const both = fields.map((f) => (f.key === 'label' ? { ...f, options: [{ id: 99, label: 'Customer' }] } : f));
    expect(resolveCustomerLabel(both, 'Customer')).toBe(17);
  });

  it('throws bad_data listing the available labels', () => {
    const err = catchErr(() => resolveCustomerLabel(fields, 'Client'));
    expect(err.type).toBe('bad_data');
    expect(err.api).toBe('pipedrive');
    expect(err.message).toContain('"Customer"');
    expect(err.message).toContain('"Hot lead"');
    expect(catchErr(() => resolveCustomerLabel([fields[0] as PdField], 'Customer')).type).toBe('bad_data');
  });
});

describe('resolveFieldKey', () => {
  it('accepts a present 40-hex key, a built-in key and a name', () => {
    expect(resolveFieldKey(fields, HEX)).toBe(HEX);
    expect(resolveFieldKey(fields, 'main PHONE ')).toBe('a1b2c3d4e5f60718293a4b5c6d7e8f9012345678');
    expect(resolveFieldKey(fields, 'name')).toBe('name');
  });

  it('throws bad_data naming the custom fields', () => {
    const err = catchErr(() => resolveFieldKey(fields, 'Support portal'));
    expect(err.type).toBe('bad_data');
    expect(err.message).toContain('"Customer Type"');
    expect(err.message).toContain('"Main phone"');
    expect(catchErr(() => resolveFieldKey(fields, 'f'.repeat(40))).type).toBe('bad_data');
    const dup = [...fields, { ...(fields[4] as PdField), id: 4005, key: 'b'.repeat(40) }];
    expect(catchErr(() => resolveFieldKey(dup, 'Main phone')).message).toContain('ambiguous');
  });
});

describe('customFieldText', () => {
  const org = {
    customFields: {
      s: '  hello ',
      blank: '   ',
      n: 191,
      addr: { value: 'Storgata 1, Oslo', route: 'Storgata' },
      money: { value: 2300, currency: 'EUR' },
      set: [190, 191],
      nul: null,
      obj: { foo: 1 },
    },
  } satisfies Pick<PdOrganization, 'customFields'>;
  it('renders strings, numbers and subfield objects', () => {
    expect(customFieldText(org, 's')).toBe('hello');
    expect(customFieldText(org, 'blank')).toBeUndefined();
    expect(customFieldText(org, 'n')).toBe('191');
    expect(customFieldText(org, 'addr')).toBe('Storgata 1, Oslo');
    expect(customFieldText(org, 'money')).toBe('2300');
    expect(customFieldText(org, 'set')).toBe('190,191');
    expect(customFieldText(org, 'nul')).toBeUndefined();
    expect(customFieldText(org, 'obj')).toBeUndefined();
    expect(customFieldText(org, 'missing')).toBeUndefined();
  });
});

describe('primaryEmail / primaryPhone', () => {
  it('takes the primary non-empty value, else the first non-empty', () => {
    const p: Pick<PdPerson, 'emails' | 'phones'> = {
      emails: [
        { value: 'a@x.example', primary: false, label: 'home' },
        { value: 'b@x.example', primary: true, label: 'work' },
      ],
      phones: [
        { value: '+47 1', primary: false, label: null },
        { value: '+47 2', primary: false, label: null },
      ],
    };
    expect(primaryEmail(p)).toBe('b@x.example');
    expect(primaryPhone(p)).toBe('+47 1');
    expect(primaryEmail({ emails: [] })).toBeUndefined();
  });

  it('parsing drops placeholder items (empty or whitespace values)', () => {
    const p = personSchema.parse({
      id: 1,
      name: 'P',
      org_id: null,
      update_time: '2026-01-01T10:20:00Z',
      is_deleted: false,
      emails: [
        { value: '', primary: true, label: 'work' },
        { value: ' c@x.example ', primary: false, label: 'home' },
      ],
      phones: [{ value: '   ', primary: true, label: 'work' }],
    });
    expect(p.emails).toEqual([{ value: 'c@x.example', primary: false, label: 'home' }]);
    expect(p.phones).toEqual([]);
    expect(primaryEmail(p)).toBe('c@x.example');
    expect(primaryPhone(p)).toBeUndefined();
  });
});

describe('schemas', () => {
  it('parses a v2 organization into camelCase with Dates', () => {
    const o = organizationSchema.parse({
      id: 1,
      name: 'Org',
      owner_id: 1,
      org_id: 1,
      add_time: '2021-01-01T00:00:00Z',
      update_time: '2021-01-02T00:00:00.123Z',
      address: { value: '123 Main St', country: 'USA', locality: 'Sunnyvale', street_number: '123' },
      is_deleted: false,
      visible_to: 7,
      label_ids: [1, 2],
      custom_fields: { [HEX]: 191 },
    });
    expect(o.updateTime.toISOString()).toBe('2021-01-02T00:00:00.123Z');
    expect(o.addTime?.toISOString()).toBe('2021-01-01T00:00:00.000Z');
    expect(o.address?.streetNumber).toBe('123');
    expect(o.address?.postalCode).toBeNull();
    expect(o.labelIds).toEqual([1, 2]);
    expect(o.customFields[HEX]).toBe(191);
  });

  it('rejects an organization without a usable id or update_time', () => {
    expect(organizationSchema.safeParse({ id: '1', name: 'x', update_time: '2021-01-01T00:00:00Z' }).success).toBe(
      false,
    );
    expect(organizationSchema.safeParse({ id: 1, name: 'x', update_time: 'yesterday' }).success).toBe(false);
  });

  it('parses field options with numeric-string ids and skips non-numeric ones', () => {
    const f = fieldSchema.parse({
      id: 6,
      key: 'visible_to',
      name: 'Visible to',
      field_type: 'visible_to',
      options: [
        { id: '3', label: 'Owner' },
        { id: 'x', label: 'X' },
      ],
    });
    expect(f.options).toEqual([{ id: 3, label: 'Owner' }]);
  });
});

describe('query helpers', () => {
  it('formats RFC 3339 with seconds and Z, clamps limits', () => {
    expect(rfc3339(new Date('2026-01-01T10:20:00.789Z'))).toBe('2026-01-01T10:20:00Z');
    expect(clampLimit(undefined)).toBe(500);
    expect(clampLimit(0)).toBe(1);
    expect(clampLimit(9999)).toBe(500);
    expect(clampLimit(42)).toBe(42);
  });
});

describe('errorFromResponse', () => {
  const ctx: RequestContext = {
    method: 'GET',
    path: '/api/v2/organizations',
    redact: (s) => s.split('tok123').join('[redacted]'),
    timeoutMs: 1000,
  };
  const map = (status: number, data: unknown, headers: Record<string, string> = {}) =>
    errorFromResponse({ status, headers, data }, ctx);

  it('maps statuses to types', () => {
    expect(map(200, { success: true })).toBeNull();
    expect(map(401, { success: false, error: 'unauthorized access' })?.message).toBe(
      'Pipedrive rejected the API token (401 unauthorized access)',
    );
    expect(map(402, { success: false, error: 'x' })?.type).toBe('forbidden');
    const f = map(403, { success: false, error: 'You do not have permissions to do this.' });
    expect(f?.type).toBe('forbidden');
    expect(f?.message).toContain('You do not have permissions');
    expect(map(403, '<!DOCTYPE html><html>Cloudflare</html>')?.message).toMatch(/abuse protection/);
    expect(map(403, 'blocked', { 'content-type': 'text/html' })?.message).toMatch(/abuse protection/);
    expect(map(404, {})?.type).toBe('not_found');
    for (const s of [400, 405, 410, 415, 422]) {
      const e = map(s, { success: false, error: `err ${s}` });
      expect(e?.type).toBe('bad_data');
      expect(e?.message).toContain(`err ${s}`);
    }
    for (const s of [500, 502, 503]) expect(map(s, {})?.type).toBe('transient');
  });

  it('reads 429 waits and tells the daily budget apart', () => {
    const burst = map(429, { error: 'Request over limit' }, { 'retry-after': '3' });
    expect(burst?.type).toBe('rate_limit');
    expect(burst?.retryAfterMs).toBe(3000);
    expect(burst?.message).not.toMatch(/daily/);
    expect(map(429, {}, { 'x-ratelimit-reset': '2' })?.retryAfterMs).toBe(2000);
    expect(map(429, {})?.retryAfterMs).toBe(2000);
    expect(map(429, { error: 'daily request budget exceeded' }, { 'retry-after': '3939' })?.message).toMatch(
      /daily budget exhausted/,
    );
    expect(map(429, {}, { 'x-daily-ratelimit-token-remaining': '0' })?.message).toMatch(/daily budget exhausted/);
    expect(retryAfterMs({ 'retry-after': new Date(Date.now() + 5000).toUTCString() })).toBeGreaterThan(3000);
  });

  it('redacts the token from quoted API text', () => {
    const e = map(400, { success: false, error: 'bad token tok123 given' });
    expect(e?.message).not.toContain('tok123');
    expect(e?.body ?? '').not.toContain('tok123');
  });
});
