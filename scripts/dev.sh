#!/usr/bin/env sh
# npm run dev: the service from src/ (tsx, no build step), restarted on every change, against
# the compose Postgres and Redis on 127.0.0.1:
#
#   docker compose up -d postgres redis
#   npm run dev
#
# Settings: .env.example, then .env (yours, git-ignored) over it, then the shell's environment
# over both. The tracing preload runs first, as in the image (docs/tracing.md): off unless
# OTEL_EXPORTER_OTLP_ENDPOINT is set. Logs are pretty-printed by pino-pretty when stdout is a terminal, JSON otherwise.
set -eu
cd "$(dirname "$0")/.."

set -- --env-file=.env.example
[ -f .env ] && set -- "$@" --env-file=.env
# No drain delay unless asked for: tsx restarts with SIGTERM and gives up (SIGKILL) after 5 s.
grep -qs '^DRAIN_DELAY_MS=' .env || export DRAIN_DELAY_MS="${DRAIN_DELAY_MS:-0}"

if [ -t 1 ]; then
  # pino-pretty ignores Ctrl-C and ends with its input, so the shutdown's last lines still show.
  tsx watch --clear-screen=false --import ./src/tracing.ts "$@" src/server.ts | (trap '' INT TERM; exec pino-pretty --translateTime SYS:HH:MM:ss.l --ignore pid,hostname)
else
  exec tsx watch --clear-screen=false --import ./src/tracing.ts "$@" src/server.ts
fi
