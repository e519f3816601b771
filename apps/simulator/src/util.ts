import type { Request, Response, NextFunction, RequestHandler, Router } from 'express';

/** Small seeded PRNG (mulberry32): deterministic data for a given seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(arr: readonly T[]): T {
    const v = arr[Math.floor(this.next() * arr.length)];
    if (v === undefined) throw new Error('pick from empty array');
    return v;
  }
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const a = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = a;
    }
    return arr;
  }
  hex(len: number): string {
    let s = '';
    while (s.length < len) s += Math.floor(this.next() * 16).toString(16);
    return s;
  }
}

/**
 * Strictly increasing wall clock (milliseconds, fractional). Two mutations in the same
 * millisecond still get distinct, ordered update times (they differ by a microsecond).
 */
export class MonotonicClock {
  private last = 0;
  now(): number {
    const t = Date.now();
    this.last = t > this.last ? t : this.last + 0.001;
    return this.last;
  }
}

/** RFC 3339 at second resolution with a `Z`, like Pipedrive v2 (`2024-07-01T05:46:33Z`). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Pipedrive v1 style `YYYY-MM-DD HH:MM:SS` (UTC). */
export function v1Time(ms: number): string {
  return rfc3339(ms).replace('T', ' ').replace('Z', '');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** First index i with arr[i] >= x (arr ascending). */
export function lowerBound(arr: readonly number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with arr[i] > x (arr ascending). */
export function upperBound(arr: readonly number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts x into an ascending array (no duplicates). */
export function sortedInsert(arr: number[], x: number): void {
  const last = arr[arr.length - 1];
  if (last === undefined || last < x) {
    arr.push(x);
    return;
  }
  const i = lowerBound(arr, x);
  if (arr[i] !== x) arr.splice(i, 0, x);
}

export function sortedRemove(arr: number[], x: number): void {
  const i = lowerBound(arr, x);
  if (arr[i] === x) arr.splice(i, 1);
}

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Registers a route and tags the response with its pattern (`GET /pipedrive/api/v2/organizations/:id`)
 * so the stats can count per route pattern.
 */
export function route(
  router: Router,
  prefix: string,
  method: Method,
  path: string,
  ...handlers: RequestHandler[]
): void {
  const tag = (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.route = `${method.toUpperCase()} ${prefix}${path}`;
    next();
  };
  router[method](path, tag, ...handlers);
}

export function firstQuery(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Escapes a value for HTML text and double- or single-quoted attribute values (null/undefined → ''). */
export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
