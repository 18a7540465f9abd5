#!/usr/bin/env bash
# `npm test`: every unit and integration test on the real stack. Works from a fresh clone:
# installs npm dependencies and the Temporal CLI when missing; jest's global setup then starts
# a Temporal dev server and an SMTP server and creates a fresh database on DATABASE_URL's server.
# Extra arguments go to jest, e.g. `npm test -- --selectProjects unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
TEMPORAL_CLI="$(bash scripts/ensure-temporal-cli.sh)"
export TEMPORAL_CLI
exec npx jest "$@"
