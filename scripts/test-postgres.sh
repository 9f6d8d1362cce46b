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

echo "postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
