export * from './contact.js';
export * from './mirror.js';
export * from './upsert.js';
export * from './run.js';
export * from './limits.js';
export * from './targeted.js';
export * from './exclusive.js';
export * from './cleanup.js';
