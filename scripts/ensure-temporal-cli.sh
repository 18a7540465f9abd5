#!/usr/bin/env bash
# Prints the path of a Temporal CLI binary on stdout; progress goes to stderr.
# Order: $TEMPORAL_CLI, a `temporal` on PATH, the project cache, else `go install` into the cache
# (outside the clone, so CI and later runs reuse it). Exits 1 with how-to-install when impossible.
set -euo pipefail
LOG_TAG=temporal-cli
. "$(dirname "$0")/lib/go-tool-cache.sh"

VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
BIN_DIR="$CACHE_ROOT/temporal-cli/$VERSION"

if [ -n "${TEMPORAL_CLI:-}" ]; then
  if [ -x "$TEMPORAL_CLI" ]; then echo "$TEMPORAL_CLI"; exit 0; fi
  log "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"; exit 1
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$BIN_DIR/temporal" ]; then echo "$BIN_DIR/temporal"; exit 0; fi

if ! go_install_cached "$BIN_DIR" "the Temporal CLI $VERSION" "github.com/temporalio/cli/cmd/temporal@$VERSION"; then
  log "Install one of:"
  log "  - the Temporal CLI binary (https://docs.temporal.io/cli), then set TEMPORAL_CLI=/path/to/temporal or put it on PATH"
  log "  - Go >= 1.24, then run this script again: it runs 'go install github.com/temporalio/cli/cmd/temporal@$VERSION'"
  log "Or try TEMPORAL_CLI_VERSION=v1.4.1 $0."
  exit 1
fi
echo "$BIN_DIR/temporal"
