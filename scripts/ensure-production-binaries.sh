#!/usr/bin/env bash
# `npm start -- --production` needs the real Temporal server (and its SQL schema tool), the
# Temporal UI server and Mailpit. Prints one NAME=path line per binary on stdout (for `eval`);
# progress goes to stderr. Each is taken from its variable when set, else from the project cache
# (<cache>/<tool>/<version>/), else built there with `go install` (first time only: about 6
# minutes on 2 cores). Exits 1, saying why, when one cannot be had.
set -euo pipefail
LOG_TAG=production-binaries
. "$(dirname "$0")/lib/go-tool-cache.sh"

# The versions docker-compose.yml runs (test/unit/compose.test.ts checks that they agree).
SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.29.1}"
UI_VERSION="${TEMPORAL_UI_SERVER_VERSION:-v2.42.1}"
MAILPIT_VERSION="${MAILPIT_VERSION:-v1.33.1}"

SERVER_DIR="$CACHE_ROOT/temporal-server/$SERVER_VERSION"
UI_DIR="$CACHE_ROOT/temporal-ui-server/$UI_VERSION"
MAILPIT_DIR="$CACHE_ROOT/mailpit/$MAILPIT_VERSION"

# The server and the sql tool come from one module, whose schema files the sql tool applies:
# they are copied next to the binaries, so the cache does not depend on Go's module cache.
if [ -z "${TEMPORAL_SERVER_BIN:-}" ] && { ! [ -x "$SERVER_DIR/server" ] || ! [ -d "$SERVER_DIR/schema/postgresql/v12" ]; }; then
  go_install_cached "$SERVER_DIR" "temporal-server $SERVER_VERSION" \
    "go.temporal.io/server/cmd/server@$SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION"
  mkdir -p "$SERVER_DIR/schema"
  cp -r "$("$(find_go)" env GOMODCACHE)/go.temporal.io/server@$SERVER_VERSION/schema/postgresql" "$SERVER_DIR/schema/"
  chmod -R u+w "$SERVER_DIR/schema"
fi
if [ -z "${TEMPORAL_UI_SERVER_BIN:-}" ] && ! [ -x "$UI_DIR/server" ]; then
  go_install_cached "$UI_DIR" "temporal ui-server $UI_VERSION" "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION"
fi
if [ -z "${MAILPIT_BIN:-}" ] && ! [ -x "$MAILPIT_DIR/mailpit" ]; then
  go_install_cached "$MAILPIT_DIR" "mailpit $MAILPIT_VERSION" "github.com/axllent/mailpit@$MAILPIT_VERSION"
fi

echo "TEMPORAL_SERVER_BIN=${TEMPORAL_SERVER_BIN:-$SERVER_DIR/server}"
echo "TEMPORAL_SQL_TOOL_BIN=${TEMPORAL_SQL_TOOL_BIN:-$SERVER_DIR/sql}"
echo "TEMPORAL_SCHEMA_DIR=${TEMPORAL_SCHEMA_DIR:-$SERVER_DIR/schema/postgresql/v12}"
echo "TEMPORAL_UI_SERVER_BIN=${TEMPORAL_UI_SERVER_BIN:-$UI_DIR/server}"
echo "MAILPIT_BIN=${MAILPIT_BIN:-$MAILPIT_DIR/mailpit}"
