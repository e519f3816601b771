// Container healthcheck, plain Node (no TypeScript loader, so it costs ~40 ms):
//   node infra/docker/healthcheck.mjs                     GET the dashboard's /healthz (the image default)
//   node infra/docker/healthcheck.mjs http <url>          any 2xx answer within 4 s is healthy
//   node infra/docker/healthcheck.mjs file <path> [60]    the worker's WORKER_HEALTH_FILE moved within 60 s
import { statSync } from 'node:fs';

const [mode = 'http', target, maxAge = '60'] = process.argv.slice(2);

function fail(why) {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
}

if (mode === 'file') {
  if (!target) fail('usage: healthcheck.mjs file <path> [max age in seconds]');
  let mtimeMs;
  try {
    mtimeMs = statSync(target).mtimeMs;
  } catch {
    fail(`${target} does not exist (is WORKER_HEALTH_FILE set, and did the worker start?)`);
  }
  const age = (Date.now() - mtimeMs) / 1000;
  if (age > Number(maxAge)) fail(`${target} last moved ${Math.round(age)} s ago (limit ${maxAge} s)`);
  process.exit(0);
} else if (mode === 'http') {
  const url = target ?? `http://127.0.0.1:${process.env.DASHBOARD_PORT || 3000}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(4_000) });
    if (!res.ok) fail(`${url} answered ${res.status}`);
    process.exit(0);
  } catch (err) {
    fail(`${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
} else {
  fail(`unknown mode ${mode} (expected http or file)`);
}
