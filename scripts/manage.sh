#!/usr/bin/env bash
# The operator CLI under the seed's name: ./scripts/manage.sh <command> [options]
# (monitor, test-alerts, monitor-logs, logs, sync, cleanup, status, alerts, migrate; --help lists them).
# When the compose stack runs, the command runs inside its `worker` service; otherwise locally.
# PCS_LOCAL=1 forces the local run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${PCS_LOCAL:-0}" != 1 ] && command -v docker >/dev/null 2>&1 \
  && docker compose ps --status running --services 2>/dev/null | grep -qx worker; then
  tty_flag=-T
  [ -t 0 ] && [ -t 1 ] && tty_flag=
  exec docker compose exec $tty_flag worker node --import tsx apps/cli/src/main.ts "$@"
fi

exec node --import tsx apps/cli/src/main.ts "$@"
