export * from './status.js';
export * from './org.js';
