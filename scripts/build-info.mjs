// What a dist was built from (scripts/build.mjs writes it; scripts/prefer-dist.mjs and the tests read
// it): a hash of each source file and of the build script itself. Node built-ins only, so that the
// check costs a few milliseconds at start-up and needs no dev dependency.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const BUILD_INFO = 'build-info.json';

export function hashFile(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

/** Changes when the build itself changes (options, layout), which makes every dist stale. */
export function buildStamp() {
  return hashFile(join(REPO_ROOT, 'scripts/build.mjs'));
}

/**
 * Why the dist of an app or package dir does not match its sources, or null when it does:
 * missing, built by another build script, or a source file changed or gone since.
 */
export function staleness(dir) {
  let info;
  try {
    info = JSON.parse(readFileSync(join(dir, 'dist', BUILD_INFO), 'utf8'));
  } catch {
    return 'not built';
  }
  let stamp;
  try {
    stamp = buildStamp();
  } catch {
    stamp = info.stamp; // an image without scripts/build.mjs: trust what it was built from
  }
  if (info.stamp !== stamp) return 'built by another version of scripts/build.mjs';
  for (const [file, hash] of Object.entries(info.inputs ?? {})) {
    let now;
    try {
      now = hashFile(join(REPO_ROOT, file));
    } catch {
      return `${file} is gone`;
    }
    if (now !== hash) return `${file} changed`;
  }
  return null;
}

export function isFresh(dir) {
  return staleness(dir) === null;
}
