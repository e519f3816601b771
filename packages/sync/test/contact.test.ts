import { describe, expect, it } from 'vitest';
import {
  buildContact,
  fieldText,
  hashPayload,
  identifierOf,
  normalizeEmail,
  normalizePhone,
  orgIdOfIdentifier,
  pipedriveWebOrigin,
  type MappingContext,
  type OrgSource,
  type PersonSource,
} from '../src/contact.js';

const ctx: MappingContext = {
  pipedriveWebOrigin: 'https://acme.pipedrive.com',
  defaultCountry: { callingCode: '+61' },
  phoneFieldKey: 'f'.repeat(40),
  supportLinkFieldKey: 's'.repeat(40),
};
const org = (o: Partial<OrgSource> = {}): OrgSource => ({
  id: 42,
  name: '  Acme Pty Ltd ',
  city: 'Sydney',
  country: 'Australia',
  customFields: {},
  ...o,
});
const person = (id: number, emails: string[] = [], phones: string[] = [], primaryIndex = 0): PersonSource => ({
  id,
  emails: emails.map((value, i) => ({ value, primary: i === primaryIndex })),
  phones: phones.map((value, i) => ({ value, primary: i === primaryIndex })),
});

describe('contact mapping', () => {
  it('maps an organization as docs/contract.md §5 says', () => {
    const c = buildContact(
      org({ customFields: { ['s'.repeat(40)]: 'https://help.acme.example' } }),
      [person(7, ['Ops@Acme.example'], ['0412 345 678'])],
      ctx,
    );
    expect(c.payload).toEqual({
      identifier: 'pipedrive:org:42',
      name: 'Acme Pty Ltd',
      email: 'ops@acme.example',
      phone_number: '+61412345678',
      additional_attributes: { company_name: 'Acme Pty Ltd', city: 'Sydney', country: 'Australia' },
      custom_attributes: {
        pipedrive_org_id: 42,
        status: 'Customer',
        type: 'organization',
        pipedrive_url: 'https://acme.pipedrive.com/organization/42',
        support_link: 'https://help.acme.example',
      },
    });
    expect(c.warnings).toEqual([]);
  });

  it('prefers the org phone field, else the first person (lowest id) that has a phone', () => {
    const persons = [
      person(9, [], ['+61 2 9999 0000']),
      person(3, ['a@x.example'], []),
      person(5, [], ['+44 20 7946 0958']),
    ];
    expect(buildContact(org(), persons, ctx).payload.phone_number).toBe('+442079460958');
    expect(
      buildContact(org({ customFields: { ['f'.repeat(40)]: '+1 (415) 555-2671' } }), persons, ctx).payload.phone_number,
    ).toBe('+14155552671');
    expect(buildContact(org({ customFields: { ['f'.repeat(40)]: '   ' } }), persons, ctx).payload.phone_number).toBe(
      '+442079460958',
    );
  });

  it('takes the primary email, skipping placeholder items, from the first person that has one', () => {
    const persons = [person(2, ['', '  '], []), person(4, ['second@x.example', 'primary@x.example'], [], 1)];
    expect(buildContact(org(), persons, ctx).payload.email).toBe('primary@x.example');
  });

  it('leaves invalid values off with a warning, and the contact is still built', () => {
    const c = buildContact(org(), [person(1, ['not-an-email'], ['12'])], ctx);
    expect(c.payload.email).toBeNull();
    expect(c.payload.phone_number).toBeNull();
    expect(c.warnings).toHaveLength(2);
    expect(c.warnings.join(' ')).toMatch(/email left off/);
    expect(c.warnings.join(' ')).toMatch(/phone_number left off/);
  });

  it('does not send again a value Chatwoot rejected while its source is unchanged', () => {
    const persons = [person(1, ['shared@x.example'], ['0412 345 678'])];
    const c = buildContact(org(), persons, ctx, { phone_number: '0412 345 678' });
    expect(c.payload.phone_number).toBeNull();
    expect(c.payload.email).toBe('shared@x.example');
    expect(c.warnings[0]).toMatch(/rejected/);
    // the source changed: it is sent again
    expect(
      buildContact(org(), [person(1, [], ['0413 000 111'])], ctx, { phone_number: '0412 345 678' }).payload
        .phone_number,
    ).toBe('+61413000111');
  });

  it('keeps names with emoji, right-to-left text and 300 characters intact', () => {
    for (const name of ['Café 🚀 Rocket', 'شركة الاختبار', 'N'.repeat(300)]) {
      expect(buildContact(org({ name }), [], ctx).payload.name).toBe(name);
    }
    expect(buildContact(org({ name: '   ' }), [], ctx).payload.name).toBe('Organization 42');
  });

  it('hashes the content: equal payloads, equal hash; any change, another hash', () => {
    const a = buildContact(org(), [person(1, ['a@x.example'])], ctx);
    const b = buildContact(org(), [person(1, ['a@x.example'])], ctx);
    expect(a.hash).toBe(b.hash);
    expect(buildContact(org({ name: 'Acme 2' }), [person(1, ['a@x.example'])], ctx).hash).not.toBe(a.hash);
    expect(hashPayload({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(hashPayload({ a: [1, { c: 3, d: 2 }], b: 1 }));
  });

  it('normalizes phones with a region or a calling code', () => {
    expect(normalizePhone('0412 345 678', { region: 'AU' })).toBe('+61412345678');
    expect(normalizePhone('0412 345 678', { callingCode: '+61' })).toBe('+61412345678');
    expect(normalizePhone('0061 412 345 678')).toBe('+61412345678');
    expect(normalizePhone('0412 345 678')).toBeUndefined();
    expect(normalizePhone('call me')).toBeUndefined();
    expect(normalizeEmail(' X@Y.example ')).toBe('x@y.example');
    expect(normalizeEmail('x@')).toBeUndefined();
  });

  it('knows identifiers, custom field forms and the web origin', () => {
    expect(identifierOf(7)).toBe('pipedrive:org:7');
    expect(orgIdOfIdentifier('pipedrive:org:7')).toBe(7);
    expect(orgIdOfIdentifier('pipedrive-org-7')).toBeUndefined();
    expect(fieldText({ k: { value: '+61 2 1234 5678', label: 'work' } }, 'k')).toBe('+61 2 1234 5678');
    expect(fieldText({ k: 12345 }, 'k')).toBe('12345');
    expect(pipedriveWebOrigin('https://api.pipedrive.com')).toBe('https://app.pipedrive.com');
    expect(pipedriveWebOrigin('https://acme.pipedrive.com')).toBe('https://acme.pipedrive.com');
  });
});
