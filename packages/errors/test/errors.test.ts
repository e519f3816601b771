import { describe, expect, it } from 'vitest';
import {
  AppError,
  alertErrorType,
  describeError,
  isRetryable,
  isUnreachable,
  kindOf,
  sourceOf,
  tagError,
} from '../src/index.js';

describe('error kinds', () => {
  it('a driver error tagged at its source keeps its class and message and gains a kind', () => {
    const raw = Object.assign(new Error('Connection is closed.'), { code: undefined });
    const tagged = tagError(raw, 'redis', 'redis');
    expect(tagged).toBe(raw);
    expect(tagged.message).toBe('Connection is closed.');
    expect(kindOf(tagged)).toBe('redis');
    expect(sourceOf(tagged)).toBe('redis');
    expect(isUnreachable(tagged)).toBe(true);
    expect(Object.keys(tagged)).not.toContain('kind');
  });

  it('the first tag wins: an error typed where it happened is not retyped further up', () => {
    const err = tagError(new Error('deadlock'), 'database', 'database');
    tagError(err, 'redis', 'redis');
    expect(kindOf(err)).toBe('database');
    const typed = new AppError({ kind: 'auth', source: 'pipedrive', message: '401' });
    expect(tagError(typed, 'database')).toBe(typed);
    expect(kindOf(typed)).toBe('auth');
  });

  it('an untyped error is internal, never guessed from its text', () => {
    expect(describeError(new Error('ECONNREFUSED database mysql'))).toMatchObject({ kind: 'internal' });
    expect(kindOf('a string')).toBeUndefined();
    expect(isRetryable(new Error('timeout'))).toBe(false);
  });

  it('maps kinds to the alert error types of the original deployment', () => {
    expect(alertErrorType('auth')).toBe('auth issue');
    expect(alertErrorType('forbidden')).toBe('auth issue');
    expect(alertErrorType('transient')).toBe('API failure');
    expect(alertErrorType('database')).toBe('database connection failure');
    expect(alertErrorType('bad_data')).toBe('data mismatch');
    expect(alertErrorType('internal')).toBe('system error');
  });
});
