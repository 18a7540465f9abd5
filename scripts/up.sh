#!/usr/bin/env bash
# `npm start`: the whole stack on its embedded defaults, from a fresh clone. Installs what is
# missing (npm packages, the Temporal CLI), then hands over to scripts/dev-stack.ts, which
# starts Temporal, SMTP, migrates and seeds Postgres, starts the worker and the HTTP API, mints
# two quick-start API keys and books the demo orders through the API.
# Ctrl-C stops everything it started. `npm start -- --once` exits after the demo orders (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
TEMPORAL_CLI="$(bash scripts/ensure-temporal-cli.sh)"
export TEMPORAL_CLI
exec node --import tsx scripts/dev-stack.ts "$@"
