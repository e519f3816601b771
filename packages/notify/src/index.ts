export * from './card.js';
export * from './google-chat.js';
export * from './alert.js';
export * from './email.js';
export * from './webhook.js';
