#!/bin/sh
# One-shot (compose service `temporal-admin-tools`): create Temporal's two databases on our
# PostgreSQL and bring both schemas to the version this admin-tools image ships.
#
# Safe to re-run on every `docker compose up`: an existing database is kept, `setup-schema`
# leaves an already versioned schema alone, and `update-schema` applies only what is missing
# (which is also how a Temporal upgrade gets its schema: bump the image tags together).
set -eu

: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"

# temporal-sql-tool reads the password from SQL_PASSWORD, so it never shows up in argv.
sql() {
  temporal-sql-tool --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$DB_PORT" \
    --user "$POSTGRES_USER" "$@"
}

setup_database() {
  database="$1"
  schema_dir="$2"
  echo "== $database ($schema_dir)"
  # PostgreSQL has no CREATE DATABASE IF NOT EXISTS: on a re-run this fails and we go on.
  # A real connection problem still stops the job at setup-schema below.
  sql --database "$database" create || echo "database $database exists"
  sql --database "$database" setup-schema -v 0.0
  sql --database "$database" update-schema -d "$schema_dir"
}

setup_database temporal /etc/temporal/schema/postgresql/v12/temporal/versioned
setup_database temporal_visibility /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal schemas are up to date"
