export * from './names.js';
export * from './definition.js';
export * from './connection.js';
export * from './queues.js';
export * from './schedulers.js';
export * from './workers.js';
export * from './counters.js';
