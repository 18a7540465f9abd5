#!/bin/sh
# Registers the project's custom search attributes with Temporal. Idempotent: an attribute that
# already exists is left alone. Run by the `temporal-admin-tools` service of docker-compose.yml
# (image temporalio/admin-tools, which ships the `temporal` CLI); can also be run by hand:
#   TEMPORAL_ADDRESS=127.0.0.1:7233 sh deploy/temporal/register-search-attributes.sh
#
# The list below must match SEARCH_ATTRIBUTE_DEFINITIONS in src/temporal/search-attributes.ts
# (test/unit/compose.test.ts checks it). One attribute per line: <Name> <Type>.
set -u

TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
export TEMPORAL_ADDRESS TEMPORAL_NAMESPACE

MAX_ATTEMPTS=90   # x 2 s: how long to wait for the server / namespace before giving up
DELAY=2

contains_already_exists() {
  printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | grep -q -e 'already exists' -e 'already registered'
}

echo "Waiting for Temporal at ${TEMPORAL_ADDRESS} ..."
attempt=1
until temporal operator cluster health >/dev/null 2>&1; do
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "Temporal at ${TEMPORAL_ADDRESS} did not answer; giving up." >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$DELAY"
done
echo "Temporal is serving."

# The server starts with no namespace of ours: create it (retention as in
# src/dev/production-shape.ts), then wait until the server serves it.
attempt=1
until temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "Namespace ${TEMPORAL_NAMESPACE} is not available; giving up." >&2
    exit 1
  fi
  if [ "$attempt" -eq 1 ]; then
    echo "Creating namespace ${TEMPORAL_NAMESPACE} ..."
    if ! output=$(temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 168h 2>&1); then
      contains_already_exists "$output" || echo "$output" >&2
    fi
  fi
  attempt=$((attempt + 1))
  sleep "$DELAY"
done

register() {
  name=$1
  type=$2
  attempt=1
  while :; do
    if output=$(temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type" 2>&1 </dev/null); then
      echo "Registered search attribute ${name} (${type})."
      return 0
    fi
    if contains_already_exists "$output"; then
      echo "Search attribute ${name} already exists."
      return 0
    fi
    if [ "$attempt" -ge 30 ]; then
      echo "Could not register search attribute ${name} (${type}): ${output}" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep "$DELAY"
  done
}

failed=0
while read -r name type; do
  case "$name" in '' | '#'*) continue ;; esac
  register "$name" "$type" || failed=1
done <<'SEARCH_ATTRIBUTES'
OrderId Keyword
ExternalReference Keyword
PartnerId Keyword
CustomerDomain Keyword
OrderStatus Keyword
HoldingAccountId Keyword
WaitingFor Keyword
LicensePeriod Keyword
TrueUpStatus Keyword
SEARCH_ATTRIBUTES

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "Search attributes are registered in namespace ${TEMPORAL_NAMESPACE}."
