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
