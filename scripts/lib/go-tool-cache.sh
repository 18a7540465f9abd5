# Shared by the ensure-*.sh scripts: Go-built tools cached outside the clone, one folder per
# tool and version (<cache>/<tool>/<version>/), so CI and later runs reuse them.
# Source it, set LOG_TAG, then call the functions below. Progress goes to stderr.

# LICENSE_FULFILLMENT_CACHE, else $XDG_CACHE_HOME/license-fulfillment, else ~/.cache/license-fulfillment.
CACHE_ROOT="${LICENSE_FULFILLMENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/license-fulfillment}"

log() { printf '[%s] %s\n' "${LOG_TAG:-go-tool}" "$*" >&2; }

# Prints the go binary, or nothing when there is none.
find_go() {
  local go
  go="$(command -v go || true)"
  [ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
  printf '%s' "$go"
}

# go_install_cached <bin-dir> <label> <package@version>...: `go install`s the packages into a
# staging folder, then renames it to <bin-dir>, so an interrupted build never looks finished.
# Returns 1 (having said why) when it cannot build.
go_install_cached() {
  local bin_dir=$1 label=$2
  shift 2
  local go
  go="$(find_go)"
  if [ -z "$go" ]; then
    log "no Go toolchain to build $label (Go >= 1.24 is needed: https://go.dev/dl/)"
    return 1
  fi
  # One build at a time per tool: a concurrent caller (parallel test runs, CI and a developer)
  # waits for the first, then finds the finished folder instead of compiling alongside it.
  mkdir -p "$(dirname "$bin_dir")"
  exec 9>"$bin_dir.lock"
  flock 9
  if [ -d "$bin_dir" ]; then exec 9>&-; return 0; fi
  local staging="$bin_dir.partial.$$"
  rm -rf "$staging" && mkdir -p "$staging"
  log "building $label with $("$go" version | cut -d' ' -f3) into $bin_dir"
  log "(first time only: a few minutes on 2 cores; later runs reuse the binaries)"
  local start heartbeat status=0
  start=$(date +%s)
  # -x would be too chatty; print each module as it downloads, then a heartbeat while it compiles.
  ( while sleep 30; do log "still building $label... $(( $(date +%s) - start ))s"; done ) &
  heartbeat=$!
  GOBIN="$staging" GOFLAGS="-mod=mod -buildvcs=false" nice -n "${GO_BUILD_NICE:-10}" "$go" install "$@" >&2 || status=$?
  kill "$heartbeat" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    rm -rf "$staging"
    log "go install $* failed (see above)."
    return 1
  fi
  rm -rf "$bin_dir" && mv "$staging" "$bin_dir"
  log "built $label in $(( $(date +%s) - start ))s"
  exec 9>&-
}
