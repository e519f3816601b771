// `node [flags] scripts/prefer-dist.mjs apps/<app>/src/main.ts [args…]`: what `pnpm run worker`,
// `pnpm manage` and the other app scripts run (README "Production build"). When apps/<app>/dist was
// built from exactly the sources there now (scripts/build-info.mjs compares hashes), the compiled
// bundle runs in this same process (same flags, same pid); otherwise the sources run through tsx, as
// `--import tsx` would, with a note on stderr when a dist exists but is out of date. A stale dist
// never runs. PCS_RUN=src always runs the sources. Any other entry (a test's own) runs through tsx.
//
// The compiled case imports the bundle directly, with no module hooks: on Node 20 a hook starts a
// loader thread of its own, about 38 MB per process, which is what the worker's memory bound cannot
// afford. The app sees its own entry as process.argv[1] and its arguments after it, as if started
// directly.
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, staleness } from './build-info.mjs';

if (!process.argv[2]) {
  process.stderr.write('usage: node scripts/prefer-dist.mjs apps/<app>/src/main.ts [args…]\n');
  process.exit(2);
}
const entry = resolve(process.argv[2]);
process.argv.splice(1, 2, entry);
const app = /^apps\/([^/]+)\/src\/main\.ts$/.exec(relative(REPO_ROOT, entry).split(sep).join('/'))?.[1];
let dist;
if (app && process.env.PCS_RUN !== 'src') {
  const appDir = join(REPO_ROOT, 'apps', app);
  const why = staleness(appDir);
  if (why === null) dist = join(appDir, 'dist', 'main.js');
  else if (why !== 'not built')
    process.stderr.write(
      `note: apps/${app}/dist is out of date (${why}); running the sources with tsx (\`pnpm build\` updates it)\n`,
    );
}
if (dist) {
  await import(pathToFileURL(dist).href);
} else {
  await import('tsx');
  await import(pathToFileURL(entry).href);
}
