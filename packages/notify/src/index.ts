export * from './card.js';
export * from './google-chat.js';
export * from './alert.js';
