export * from './rules.js';
export * from './fallback.js';
