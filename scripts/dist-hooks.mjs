// Module hooks of scripts/prefer-dist.mjs: the app's source entry (apps/<app>/src/main.ts) resolves
// to its compiled bundle (apps/<app>/dist/main.js); nothing else changes.
let from;
let to;

export function initialize(data) {
  ({ from, to } = data);
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  return resolved.url === from ? { ...resolved, url: to, format: 'module' } : resolved;
}
