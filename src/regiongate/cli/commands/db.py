"""``regiongate db migrate``: apply the audit store's numbered migrations and partition maintenance."""

from __future__ import annotations

import argparse
import os
import sys

from regiongate.contract.environment import DATABASE_URL, DB_CA_BUNDLE
from regiongate.contract.limits import DEFAULT_AUDIT_RETENTION_MONTHS


def register(subparsers) -> None:
    parser = subparsers.add_parser("db", help="manage the audit store (DATABASE_URL)")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = sub.add_parser("migrate", help="apply pending migrations and create/drop monthly partitions")
    migrate.add_argument(
        "--retention-months",
        type=int,
        default=DEFAULT_AUDIT_RETENTION_MONTHS,
        help=f"audit months to keep (default {DEFAULT_AUDIT_RETENTION_MONTHS})",
    )
    migrate.set_defaults(func=run_migrate)


def open_store():
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    url = os.environ.get(DATABASE_URL)
    if not url:
        print("regiongate: set DATABASE_URL (postgresql://user:password@host:port/db)", file=sys.stderr)
        raise SystemExit(2)
    # A CA file (sslrootcert= in the URL, or DB_CA_BUNDLE) means the server's certificate and name are verified.
    params = ConnectionParams.from_url(url, os.environ.get(DB_CA_BUNDLE) or None)
    return PostgresStore(ConnectionPool(params.connect, size=1))


def run_migrate(args: argparse.Namespace) -> int:
    if not 1 <= args.retention_months <= 120:
        print("regiongate db migrate: --retention-months must be 1 to 120", file=sys.stderr)
        return 2
    store = open_store()
    try:
        applied = store.migrate()
        dropped = store.maintain(args.retention_months)
    finally:
        store.pool.close()
    print(f"migrations applied: {', '.join(map(str, applied)) or 'none (up to date)'}")
    if dropped:
        print(f"partitions dropped (older than {args.retention_months} months): {', '.join(dropped)}")
    return 0
