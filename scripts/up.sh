#!/usr/bin/env bash
# `npm start`: the whole stack on its embedded defaults, from a fresh clone. Installs what is
# missing (npm packages, the Temporal CLI), then hands over to scripts/dev-stack.ts, which
# starts Temporal, SMTP, migrates and seeds Postgres, starts the worker and the HTTP API, mints
# two quick-start API keys and books the demo orders through the API.
# Ctrl-C stops everything it started. `npm start -- --once` exits after the demo orders (CI).
#
# `npm start -- --production`: the production shape instead (scripts/production-stack.ts): the
# real Temporal server on Postgres, its UI server, Mailpit, two workers and two APIs, built once
# into the cache by scripts/ensure-production-binaries.sh. `--production --once` as well.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
for arg in "$@"; do
  if [ "$arg" = "--production" ]; then
    binaries="$(bash scripts/ensure-production-binaries.sh)"
    while IFS= read -r line; do export "${line?}"; done <<<"$binaries"
    exec node --import tsx scripts/production-stack.ts "$@"
  fi
done
TEMPORAL_CLI="$(bash scripts/ensure-temporal-cli.sh)"
export TEMPORAL_CLI
exec node --import tsx scripts/dev-stack.ts "$@"
