#!/usr/bin/env bash
# Start a throw-away PostgreSQL for the test suite and print its DATABASE_URL.
# Used by `make test` when DATABASE_URL is not already set. Idempotent: a running server is reused.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

PORT="${REGIONGATE_TEST_PG_PORT:-54329}"
DATA_DIR="${REGIONGATE_TEST_PG_DIR:-/tmp/regiongate-test-pg}"
DB_USER=regiongate
DB_PASSWORD=regiongate-test
DB_NAME=regiongate_test

find_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

if ! PG_BIN=$(find_bin); then
  echo "PostgreSQL server not found; installing Debian's postgresql package" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
  else
    echo "error: install PostgreSQL (e.g. 'sudo apt-get install postgresql') or set DATABASE_URL" >&2
    exit 1
  fi
  PG_BIN=$(find_bin)
fi

run_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pgvector for the memory store (migration 0006): Debian bookworm has no postgresql-15-pgvector package, so
# the vendored source (third_party/pgvector, v0.8.6) is built into this server's directories once.
PG_CONFIG="$PG_BIN/pg_config"
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: PostgreSQL lacks the pgvector extension; as root this script builds third_party/pgvector" >&2
    exit 1
  fi
  PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
  if [ ! -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] || ! command -v make >/dev/null || ! command -v gcc >/dev/null; then
    echo "building pgvector: installing postgresql-server-dev-$PG_MAJOR and build-essential" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      "postgresql-server-dev-$PG_MAJOR" build-essential >/dev/null) >&2
  fi
  BUILD_DIR=$(mktemp -d)
  cp -r "$(dirname "$0")/../third_party/pgvector/." "$BUILD_DIR"
  (cd "$BUILD_DIR" && make -s OPTFLAGS="" PG_CONFIG="$PG_CONFIG" >/dev/null && make -s install PG_CONFIG="$PG_CONFIG" >/dev/null) >&2
  rm -rf "$BUILD_DIR"
fi

if [ ! -s "$DATA_DIR/PG_VERSION" ]; then
  mkdir -p "$DATA_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA_DIR"
  run_as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres -A trust --no-sync -E UTF8 >/dev/null
fi

if ! run_as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
  run_as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -w \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
fi

psql_admin() { run_as_owner psql -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
  psql_admin -c "create role $DB_USER login password '$DB_PASSWORD' createdb" >/dev/null
fi
if [ "$(psql_admin -c "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
  psql_admin -c "create database $DB_NAME owner $DB_USER" >/dev/null
fi
# CREATE EXTENSION vector needs a superuser (pgvector's control file does not mark it trusted) and the test role
# is none: the superuser creates it in template1 (every database the tests create copies it) and in the test
# database, so migration 0006's CREATE EXTENSION IF NOT EXISTS finds it. On RDS the master user runs it. Only
# these two: connecting to the tests' throw-away databases would race with their teardown.
for db in template1 "$DB_NAME"; do
  psql_admin -d "$db" -c "set client_min_messages = warning" -c "create extension if not exists vector" >/dev/null
done

# The rotation tests need passwords that are actually checked (trust accepts any): members of this group
# sign in over TCP with scram-sha-256. The test role may create such members (CREATEROLE) for itself.
PASSWORD_GROUP=regiongate_password_checked
if [ "$(psql_admin -c "select 1 from pg_roles where rolname='$PASSWORD_GROUP'")" != 1 ]; then
  psql_admin -c "create role $PASSWORD_GROUP nologin" >/dev/null
fi
psql_admin -c "set client_min_messages = warning" -c "alter role $DB_USER createrole" -c "grant $PASSWORD_GROUP to $DB_USER with admin option" >/dev/null
HBA_RULE="host all +$PASSWORD_GROUP 127.0.0.1/32 scram-sha-256"
HBA_FILE="$DATA_DIR/pg_hba.conf"
if ! grep -qxF "$HBA_RULE" "$HBA_FILE"; then
  # First match wins: the rule must come before initdb's trust lines.
  run_as_owner sh -c 'printf "%s\n" "$1" | cat - "$2" > "$2.new" && mv "$2.new" "$2"' _ "$HBA_RULE" "$HBA_FILE"
  psql_admin -c "select pg_reload_conf()" >/dev/null
fi

echo "postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
