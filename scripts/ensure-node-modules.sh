#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or was installed from another lock
# file. Compared by content (a digest kept in node_modules), not only by date: a fresh clone's
# lock file is always newer than an install made before it, and would install again for nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.installed-from-lock.sha256
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f node_modules/.package-lock.json ]; then
  [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && exit 0
  # Installed (npm ci by hand) after this lock file was written, and not stamped yet: from it.
  # Not through a link: that install belongs to another checkout, whose lock file may differ.
  if [ ! -L node_modules ] && [ ! -f "$stamp" ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    echo "$wanted" > "$stamp"
    exit 0
  fi
fi
if [ -L node_modules ]; then
  # npm ci would empty the directory the link points to, which another checkout may be using.
  echo "[deps] node_modules links to an install made from another package-lock.json: run npm ci where it points, or remove the link" >&2
  exit 1
fi
echo "[deps] npm ci (node_modules missing or installed from another package-lock.json)" >&2
npm ci --no-audit --no-fund >&2
echo "$wanted" > "$stamp"
