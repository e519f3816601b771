// `node --import ./scripts/prefer-dist.mjs apps/<app>/src/main.ts`: what `pnpm run worker`, `pnpm manage`
// and the other app scripts run (README "Production build"). When apps/<app>/dist was built from
// exactly the sources there now (scripts/build-info.mjs compares hashes), the compiled bundle runs in
// this same process (same flags, same pid, source maps on); otherwise the sources run through tsx,
// as `--import tsx` would, with a note on stderr when a dist exists but is out of date. A stale dist
// never runs. PCS_RUN=src always runs the sources. Any other entry (a test's own) runs through tsx.
import { register } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, staleness } from './build-info.mjs';

const entry = process.argv[1] ? resolve(process.argv[1]) : '';
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
  process.setSourceMapsEnabled(true);
  register('./dist-hooks.mjs', import.meta.url, {
    data: { from: pathToFileURL(entry).href, to: pathToFileURL(dist).href },
  });
} else {
  await import('tsx');
}
