import type { Rng } from '../util.js';

const ORG_PREFIXES = [
  'Acme',
  'Nordic',
  'Blue River',
  'Summit',
  'Harbour',
  'Müller',
  'Åsgård',
  'Škoda Parts',
  'Café Crème',
  'Żabka',
  'Østergaard',
  'São Paulo',
  'Crédit',
  'Kühne',
  'Ελληνική',
  'Tōkyō',
  'Pinnacle',
  'Granite',
  'Oak & Ash',
  'Silverline',
  'Redwood',
  'Coastal',
  'Evergreen',
  'Ironbark',
  'Kookaburra',
  'Lumen',
  'Meridian',
  'Northwind',
  'Orbit',
  'Quantum',
  'Riverside',
  'Sunburst',
  'Tidewater',
  'Union',
  'Vantage',
  'Westfield',
  'Yarra',
  'Zenith',
  'Brightside',
  'Clearwater',
];
const ORG_SUFFIXES = [
  'GmbH',
  'AS',
  'Pty Ltd',
  'Ltd',
  'Inc.',
  'S.A.',
  'Oy',
  'AB',
  'BV',
  'SARL',
  'Holdings',
  'Group',
  'Logistics',
  'Consulting',
  'Dental',
  'Bakery',
  'Studio',
  'Foods',
  'Systems',
  'Labs',
];

export interface CityInfo {
  locality: string;
  country: string;
  admin1: string;
  postal: string;
  route: string;
  phonePrefix: string;
  /** The rest of a valid number after the prefix: '#' is any digit. */
  rest: string;
}

const CITIES: CityInfo[] = [
  {
    locality: 'Berlin',
    country: 'Germany',
    admin1: 'Berlin',
    postal: '10115',
    route: 'Friedrichstraße',
    phonePrefix: '+4930',
    rest: '2#######',
  },
  {
    locality: 'München',
    country: 'Germany',
    admin1: 'Bayern',
    postal: '80331',
    route: 'Marienplatz',
    phonePrefix: '+4989',
    rest: '2#######',
  },
  {
    locality: 'Oslo',
    country: 'Norway',
    admin1: 'Oslo',
    postal: '0150',
    route: 'Storgata',
    phonePrefix: '+4722',
    rest: '######',
  },
  {
    locality: 'Sydney',
    country: 'Australia',
    admin1: 'NSW',
    postal: '2000',
    route: 'George St',
    phonePrefix: '+612',
    rest: '9#######',
  },
  {
    locality: 'Melbourne',
    country: 'Australia',
    admin1: 'VIC',
    postal: '3000',
    route: 'Collins St',
    phonePrefix: '+613',
    rest: '9#######',
  },
  {
    locality: 'Tallinn',
    country: 'Estonia',
    admin1: 'Harju maakond',
    postal: '10615',
    route: 'Mustamäe tee',
    phonePrefix: '+3726',
    rest: '######',
  },
  {
    locality: 'Paris',
    country: 'France',
    admin1: 'Île-de-France',
    postal: '75001',
    route: 'Rue de Rivoli',
    phonePrefix: '+331',
    rest: '4#######',
  },
  {
    locality: 'Kraków',
    country: 'Poland',
    admin1: 'Małopolskie',
    postal: '31-001',
    route: 'Floriańska',
    phonePrefix: '+4812',
    rest: '4######',
  },
  {
    locality: 'São Paulo',
    country: 'Brazil',
    admin1: 'SP',
    postal: '01310-100',
    route: 'Avenida Paulista',
    phonePrefix: '+5511',
    rest: '3#######',
  },
  {
    locality: 'Austin',
    country: 'United States',
    admin1: 'TX',
    postal: '73301',
    route: 'Congress Ave',
    phonePrefix: '+1512',
    rest: '47#####',
  },
  {
    locality: 'Stockholm',
    country: 'Sweden',
    admin1: 'Stockholm',
    postal: '111 22',
    route: 'Drottninggatan',
    phonePrefix: '+468',
    rest: '5######',
  },
  {
    locality: 'Auckland',
    country: 'New Zealand',
    admin1: 'Auckland',
    postal: '1010',
    route: 'Queen St',
    phonePrefix: '+649',
    rest: '3######',
  },
];

const FIRST = [
  'Anna',
  'Bjørn',
  'Chloé',
  'David',
  'Eva',
  'François',
  'Greta',
  'Hiroshi',
  'Ines',
  'Jürgen',
  'Kate',
  'Liam',
  'María',
  'Noah',
  'Olivia',
  'Paweł',
  'Quinn',
  'Rosa',
  'Søren',
  'Tom',
  'Uma',
  'Viktor',
  'Wei',
  'Zoë',
];
const LAST = [
  'Andersen',
  'Brown',
  'Černý',
  'Dubois',
  'Evans',
  'Fischer',
  'García',
  'Hansen',
  'Ivanova',
  'Jones',
  'Kowalski',
  'Larsen',
  'Müller',
  'Nguyen',
  "O'Brien",
  'Petrov',
  'Rossi',
  'Smith',
  'Tanaka',
  'Weiß',
];

export function orgName(rng: Rng, id: number): string {
  const base = `${rng.pick(ORG_PREFIXES)} ${rng.pick(ORG_SUFFIXES)}`;
  // keep names mostly unique but realistic
  return rng.chance(0.7) ? `${base} ${id}` : base;
}

export function city(rng: Rng): CityInfo {
  return rng.pick(CITIES);
}

export function personName(rng: Rng): { first: string; last: string } {
  return { first: rng.pick(FIRST), last: rng.pick(LAST) };
}

export function asciiSlug(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ø/gi, 'o')
    .replace(/ß/g, 'ss')
    .replace(/ł/gi, 'l')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

/**
 * A mix of valid numbers in E.164, spaced international and local formats (e.g. `0412 345 678`,
 * valid only with a default country), plus a few that are not phone numbers at all.
 */
export function phone(rng: Rng, c: CityInfo): string {
  const r = rng.next();
  const fill = (pattern: string) => pattern.replace(/#/g, () => String(rng.int(0, 9)));
  if (r < 0.45) return `${c.phonePrefix}${fill(c.rest)}`;
  if (r < 0.65) {
    const n = `${c.phonePrefix}${fill(c.rest)}`;
    return `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6, 9)} ${n.slice(9)}`.trim();
  }
  if (r < 0.85) return `04${rng.int(0, 3)}${rng.int(0, 9)} ${fill('###')} ${fill('###')}`;
  if (r < 0.97) return `(02) 9${fill('###')} ${fill('####')}`;
  return rng.next() < 0.5 ? 'ask reception' : fill('###');
}
