#!/usr/bin/env bash
# The operator CLI under the seed's name: ./scripts/manage.sh <command> [options]
#   monitor, test-alerts, monitor-logs, logs, sync (the seed's commands), and cleanup, status,
#   alerts, migrate; ./scripts/manage.sh --help lists them, <command> --help describes one.
# When the compose stack runs here, the command runs inside its `worker` service (the containers'
# Redis, database and logs); otherwise it runs locally with .env, like `pnpm manage`.
# PCS_LOCAL=1 forces the local run.
set -euo pipefail
cd "$(dirname "$0")/.."

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"
  elif command -v docker-compose >/dev/null 2>&1; then docker-compose "$@"
  else return 127; fi
}

running=""
if [ "${PCS_LOCAL:-0}" != 1 ] && { command -v docker >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
  # Captured first: `grep -q` in a pipe could close it early, and pipefail would call that a failure.
  running=$(compose ps --services --filter status=running 2>/dev/null || true)
fi
if grep -qx worker <<<"$running"; then
  tty_flag=-T
  [ -t 0 ] && [ -t 1 ] && tty_flag=
  echo "(running in the compose worker service; PCS_LOCAL=1 runs it here)" >&2
  exec_args=(exec)
  [ -n "$tty_flag" ] && exec_args+=("$tty_flag")
  compose "${exec_args[@]}" worker node apps/cli/dist/main.js "$@"
  exit $?
fi

# Like `pnpm manage`: the compiled CLI when apps/cli/dist matches the sources, else the sources (tsx).
exec node scripts/prefer-dist.mjs apps/cli/src/main.ts "$@"
