#!/bin/sh
# Creates Temporal's two Postgres databases and brings their schemas to the server's version with
# Temporal's own SQL tool. Safe to run again: create and setup leave what exists, update does
# nothing when the schema is current. Run by `npm start -- --production` (with the tool and the
# schema folder from scripts/ensure-production-binaries.sh) and by the temporal-schema service of
# docker-compose.yml (temporalio/admin-tools, which ships both).
set -eu

SQL_TOOL="${SQL_TOOL:-temporal-sql-tool}"
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
DBNAME="${DBNAME:-temporal_prod}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_prod_visibility}"

# The tool's defaults are MySQL and port 3306: everything is passed explicitly.
sql() {
  "$SQL_TOOL" --plugin postgres12 --ep "${POSTGRES_SEEDS:-127.0.0.1}" -p "${DB_PORT:-5432}" \
    -u "${POSTGRES_USER:-postgres}" --pw "${POSTGRES_PWD:-}" "$@"
}

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db="${pair%%:*}"
  schema="${pair#*:}"
  echo "Temporal database ${db} (${schema} schema)"
  sql --db "$db" create-database
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
echo "Temporal databases ${DBNAME} and ${VISIBILITY_DBNAME} are at the schema version of $SCHEMA_DIR."
