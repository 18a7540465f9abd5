#!/usr/bin/env bash
# Prints the path of a Temporal CLI binary on stdout; progress goes to stderr.
# Order: $TEMPORAL_CLI, a `temporal` on PATH, the project cache, else `go install` into the cache
# (outside the clone, so CI and later runs reuse it). Exits 1 with how-to-install when impossible.
set -euo pipefail

VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
CACHE_ROOT="${LICENSE_FULFILLMENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/license-fulfillment}"
BIN_DIR="$CACHE_ROOT/temporal-cli/$VERSION"

log() { printf '[temporal-cli] %s\n' "$*" >&2; }

if [ -n "${TEMPORAL_CLI:-}" ]; then
  if [ -x "$TEMPORAL_CLI" ]; then echo "$TEMPORAL_CLI"; exit 0; fi
  log "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"; exit 1
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$BIN_DIR/temporal" ]; then echo "$BIN_DIR/temporal"; exit 0; fi

GO="$(command -v go || true)"
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
if [ -z "$GO" ]; then
  log "no Temporal CLI found and no Go toolchain to build one."
  log "Install one of:"
  log "  - the Temporal CLI binary (https://docs.temporal.io/cli), then set TEMPORAL_CLI=/path/to/temporal or put it on PATH"
  log "  - Go >= 1.24, then run this script again: it runs 'go install github.com/temporalio/cli/cmd/temporal@$VERSION'"
  exit 1
fi

mkdir -p "$BIN_DIR"
# One build at a time: a second caller (parallel test runs, CI and a developer) waits for the
# first and then finds the binary, instead of compiling the same thing again alongside it.
exec 9>"$BIN_DIR.lock"
flock 9
if [ -x "$BIN_DIR/temporal" ]; then echo "$BIN_DIR/temporal"; exit 0; fi
log "building the Temporal CLI $VERSION with $("$GO" version | cut -d' ' -f3) into $BIN_DIR"
log "(first time only: about 6 minutes on 2 cores; later runs reuse the binary)"
start=$(date +%s)
# -x would be too chatty; print each module as it downloads, then a heartbeat while it compiles.
( while sleep 30; do log "still building... $(( $(date +%s) - start ))s"; done ) &
heartbeat=$!
trap 'kill $heartbeat 2>/dev/null || true' EXIT
if ! GOBIN="$BIN_DIR" GOFLAGS=-mod=mod "$GO" install "github.com/temporalio/cli/cmd/temporal@$VERSION" >&2; then
  log "go install github.com/temporalio/cli/cmd/temporal@$VERSION failed (see above)."
  log "Try TEMPORAL_CLI_VERSION=v1.4.1 $0, or install a Temporal CLI binary and set TEMPORAL_CLI."
  exit 1
fi
log "built in $(( $(date +%s) - start ))s"
echo "$BIN_DIR/temporal"
